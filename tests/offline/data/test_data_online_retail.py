"""The Online Retail adapter on a few hundred synthetic rows with placed dirty rows."""

from __future__ import annotations

import pandas as pd
import pytest

from fulcrum.core import schema as S
from offline.data import online_retail as OR
from offline.data.dataset import load_prepared
from offline.data.prepare import finalize, write_prepared
from tests.fixtures.retail_rows import retail_file


@pytest.fixture()
def retail(tmp_path):
    return retail_file(tmp_path)


def test_each_cleaning_rule_is_counted(retail):
    events, items, report = OR.load(retail.path)
    exp = retail.expected
    assert report.raw_rows == exp["raw_rows"]
    assert report.dropped[OR.RULE_GUEST] == exp["guest"]
    assert report.dropped[OR.RULE_CANCEL_POSITIVE] == exp["cancel_positive"]
    assert report.dropped[OR.RULE_QUANTITY] == exp["quantity"]
    assert report.dropped[OR.RULE_PRICE] == exp["price"]
    counts = events[S.EVENT_TYPE].value_counts()
    assert counts[S.EventType.PURCHASE.value] == exp["purchases"]
    assert counts[S.EventType.CANCEL.value] == exp["cancel_events"]
    # every raw row is either charged to one rule or written
    assert report.kept_rows == len(events)
    assert report.notes["non-product code rows kept (OR-temporal counts them)"] == exp["non_product"]


def test_non_product_codes_dropped_on_request(retail):
    events, _, report = OR.load(retail.path, drop_non_product=True)
    assert report.dropped[OR.RULE_NON_PRODUCT] == retail.expected["non_product"]
    assert not events[S.ITEM_ID].isin(["POST", "BANK CHARGES", "C2"]).any()
    assert (events[S.EVENT_TYPE] == "PURCHASE").sum() == retail.expected["purchases"] - 3


def test_is_non_product():
    for code in ("POST", "D", "M", "S", "B", "DOT", "CRUK", "PADS", "BANK CHARGES", "AMAZONFEE", "C2",
                 "GIFT_0001_20"):
        assert OR.is_non_product(code), code
    for code in ("85123A", "22423", "DCGS0003", "15056BL"):
        assert not OR.is_non_product(code), code


def test_event_fields(retail):
    events, _, _ = OR.load(retail.path)
    cancels = events[events[S.EVENT_TYPE] == "CANCEL"]
    # the four "C56001i" lines cancel 2 units of 20003 for customer 12001
    assert set(cancels[S.ITEM_ID]) == {"20003"}
    assert set(cancels[S.USER_ID]) == {"12001"}
    assert (cancels[S.QUANTITY] == 2.0).all()
    # event id = or-<invoice>-<line in file>; the header is line 1, so row i is line i + 2
    first = retail.rows[0]
    row = events[events[S.EVENT_ID] == f"or-{first[0]}-2"].iloc[0]
    assert row[S.ITEM_ID] == first[1] and row[S.USER_ID] == str(int(float(first[6])))
    assert row[S.SESSION_ID] == first[0]
    assert row[S.TIMESTAMP] == pd.Timestamp(first[4], tz="UTC")
    assert events[S.EVENT_ID].is_unique
    # " 30007b " is upper-cased and stripped
    assert "30007B" in set(events[S.ITEM_ID])


def test_item_text_price_and_first_seen(retail):
    _, items, report = OR.load(retail.path)
    lamp = items.set_index(S.ITEM_ID).loc["30006"]
    # "LAMP" twice beats "LAMP, RED" once (descriptions are upper-cased and stripped)
    assert lamp[S.ITEM_TEXT] == "LAMP"
    # median of 5.00, 7.00, 6.00
    assert lamp[S.PRICE] == pytest.approx(6.0)
    assert lamp[S.FIRST_SEEN] == pd.Timestamp("2011-10-10 10:00:00", tz="UTC")
    # 30006 has two variants ("LAMP", "LAMP, RED"); 20004 "damaged" is not a written item
    assert report.notes["items with more than one description"] >= 1
    assert items[S.ITEM_ID].is_unique


def test_split_and_counts_written(retail, tmp_path):
    events, items, report = OR.load(retail.path)
    prepared = finalize(events, items, report, "time", OR.PROTOCOL, OR.CUTOFF)
    out = write_prepared(prepared, tmp_path / "prepared")
    loaded = load_prepared(out)
    ev = loaded.events
    assert list(ev.columns) == list(S.EVENT_COLUMNS)
    assert str(ev[S.TIMESTAMP].dtype) == "datetime64[ns, UTC]"
    before = ev[S.TIMESTAMP] < pd.Timestamp("2011-11-09", tz="UTC")
    assert (ev.loc[before, S.SPLIT] == "train").all() and (ev.loc[~before, S.SPLIT] == "test").all()

    # warm/cold worked out from the raw rows, independently of the protocol code
    buys = [r for r in retail.rows
            if r[6] and not r[0].startswith("C") and float(r[3]) > 0 and float(r[5]) > 0]
    train, test = {}, {}
    for r in buys:
        side = train if r[4] < "2011-11-09" else test
        side.setdefault(str(int(float(r[6]))), set()).add(r[1].strip().upper())
    warm = [u for u, items_ in test.items() if u in train and items_ - train[u]]
    cold = [u for u in test if u not in train]
    assert loaded.split.counts["warm_test_users"] == len(warm) > 0
    assert loaded.split.counts["cold_test_users"] == len(cold) == 2
    assert loaded.split.counts["purchase_rows"] == retail.expected["purchases"]
    assert loaded.split.cutoff == pd.Timestamp("2011-11-09", tz="UTC")
    assert loaded.split.validation_start == pd.Timestamp("2011-10-26", tz="UTC")
    assert loaded.split.cleaning["raw_rows"] == retail.expected["raw_rows"]


def test_reference_figures_only_for_the_vendored_file(retail):
    from pathlib import Path

    vendored = Path(__file__).resolve().parents[3] / "data" / "online-retail.csv.gz"
    assert OR.is_reference_file(vendored)
    assert not OR.is_reference_file(retail.path)


def test_cli_prepare_explicit_cutoff_is_or_temporal(retail, tmp_path):
    from typer.testing import CliRunner

    from fulcrum.cli import app

    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["data", "prepare", "--raw", str(retail.path), "--cutoff", "2011-11-09",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    loaded = load_prepared(out)
    assert loaded.split.protocol == "OR-temporal"
    assert loaded.split.reference == {}  # not the vendored file: nothing to compare with
    assert loaded.split.counts["purchase_rows"] == retail.expected["purchases"]
    assert "raw rows read" in result.output and f"{retail.expected['raw_rows']}" in result.output
