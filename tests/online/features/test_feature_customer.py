"""A hand-picked real customer: online features vs values counted by hand from the raw file.

Customer 12413 (France) in data/online-retail.csv.gz has 40 rows: invoice 540365 (2011-01-06,
24 lines incl. POSTAGE), the cancellations C540367 (POST) and C540853 (22634), invoice 550338
(2011-04-17, 4 lines) and invoice 569402 (2011-10-04 09:00, 10 lines). The test builds the
customer's subset from the raw file itself (so it never skips), runs it through the real Online
Retail adapter, the batch feature job, feast apply + materialise, and compares what the online
client returns with pandas counts taken straight from the raw rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from offline.data import online_retail
from offline.features.pipeline import build_features
from online.features.client import OnlineFeatureClient
from tests.feature_repo_copy import ROOT, copy_repo

RAW = ROOT / "data" / "online-retail.csv.gz"
CUSTOMER = "12413"


@pytest.fixture(scope="module")
def raw_customer(tmp_path_factory):
    raw = pd.read_csv(RAW, dtype=str, keep_default_na=False)
    rows = raw[raw["CustomerID"].str.replace(r"\.0$", "", regex=True) == CUSTOMER]
    path = tmp_path_factory.mktemp("raw") / "customer.csv"
    rows.to_csv(path, index=False)
    return rows.reset_index(drop=True), path


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_real_customer_online_features_match_the_raw_file(kind, raw_customer, tmp_path, request):
    rows, csv = raw_customer
    url = request.getfixturevalue("redis_url") if kind == "redis" else None
    events, items, _ = online_retail.load(csv)
    repo = copy_repo(tmp_path)
    build_features(events, repo, items=items, store=kind, redis_url=url)
    client = OnlineFeatureClient.open(repo, kind, url, default_timeout_s=5.0)
    try:
        got = client.get_user_profile(CUSTOMER)
        stats = client.get_item_stats(["85099B", "22634", "POST"])
    finally:
        client.close()

    # ---- by hand, from the raw rows (file order = time order) ----
    qty = rows["Quantity"].astype(float)
    price = rows["UnitPrice"].astype(float)
    cancel = rows["InvoiceNo"].str.startswith("C")
    code = rows["StockCode"].str.strip().str.upper()
    purchases = rows[~cancel & (qty > 0) & (price > 0)]
    cancels = rows[cancel & (qty < 0)]
    assert len(purchases) == 38 and len(cancels) == 2  # 24 + 4 + 10 lines; POST and 22634 cancelled
    assert not got.miss
    p = got.profile
    assert p.purchase_count == len(purchases) == got.counts["purchase_count_all"]
    assert p.cancel_count == len(cancels) == got.counts["cancel_count_all"]
    assert p.bought == set(code[purchases.index])
    assert p.cancelled == {"POST", "22634"} == set(code[cancels.index])
    # last items: the whole last invoice (569402, 10 lines) in file order, preceded by 550338
    last_invoice = purchases[purchases["InvoiceNo"] == "569402"]
    assert list(p.recent_items[-10:]) == list(code[last_invoice.index])
    assert list(p.recent_items[-14:-10]) == list(code[purchases[purchases["InvoiceNo"] == "550338"].index])
    assert len(p.recent_items) == len(purchases) + len(cancels)  # 40 < RECENT_MAX
    assert p.recent_types[-1] == "PURCHASE" and p.recent_types.count("CANCEL") == 2
    last_time = pd.Timestamp("2011-10-04 09:00:00", tz="UTC").timestamp()
    assert p.last_active == last_time and got.as_of == last_time
    # windows anchored at 2011-10-04: only invoice 569402 falls in the last 7 and 30 days
    assert got.counts["purchase_count_7d"] == got.counts["purchase_count_30d"] == len(last_invoice) == 10
    assert got.counts["cancel_count_30d"] == 0

    # item stats of this customer's subset: 85099B bought in all three invoices; 22634 bought
    # once and cancelled once; POST bought twice and cancelled once
    assert stats.found.all()
    assert stats.purchases.tolist() == [3, 1, 2]
    assert stats.cancels.tolist() == [0, 1, 1]
    np.testing.assert_allclose(stats.cancel_rate, [0.0, 0.5, 1 / 3])
    assert stats.price[0] == 2.08  # the newest purchase price (1.95 in January, 2.08 since April)
    assert stats.popularity_rank[0] == 1  # the most bought item of the subset
