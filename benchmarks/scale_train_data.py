"""A synthetic shop at catalogue scale for timing `fulcrum train`: a prepared-data folder.

    python -m benchmarks.scale_train_data --items 100000 --events 1000000 --out D

Items: titles drawn from the Online Retail titles' words and lengths (benchmarks/scale_synth.py),
so tokenized lengths look like a real shop's. Users: a Zipf activity (a few heavy accounts, many
one-basket customers) and a home group of items; baskets of 1-4 purchases at one moment, three in
four from the home group (items ranked by a Zipf popularity inside it), the rest from the whole
catalogue by the same kind of popularity; times uniform over ``--days``; the last ``--test-days``
are the test split (a time split, as `fulcrum data prepare` writes it). The data is for cost,
not quality: nothing in it is tuned to be learnable beyond the home groups.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from fulcrum.core import schema as S

#: the Online Retail data the project vendors (data/NOTICE.md): the source of the title words
DATA = Path(__file__).resolve().parents[1] / "data" / "online-retail.csv.gz"
GROUP_SIZE = 200


def zipf_ranks(rng: np.random.Generator, n: int, size: int, a: float = 1.2) -> np.ndarray:
    """``size`` draws in [0, n) with P(rank r) ~ 1 / (r + 1)^a."""
    w = 1.0 / np.arange(1, n + 1) ** a
    return rng.choice(n, size=size, p=w / w.sum())


def make_events(n_items: int, n_events: int, n_users: int, days: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_baskets = max(1, n_events * 2 // 5)
    size = rng.integers(1, 5, n_baskets)
    size[-1] += max(0, n_events - int(size.sum()))
    ends = np.cumsum(size)
    keep = ends - size < n_events
    size, n_baskets = size[keep], int(keep.sum())
    size[-1] -= int(size.sum()) - n_events
    basket_user = zipf_ranks(rng, n_users, n_baskets, a=0.8)
    basket_time = rng.uniform(0, days * 86_400.0, n_baskets)
    user = np.repeat(basket_user, size)
    when = np.repeat(basket_time, size)
    # item index order is a random permutation of popularity, groups are blocks of that order
    perm = rng.permutation(n_items)
    n_groups = max(1, n_items // GROUP_SIZE)
    home = rng.integers(0, n_groups, n_users)[user]
    in_group = rng.random(n_events) < 0.75
    local = zipf_ranks(rng, GROUP_SIZE, n_events, a=1.0)
    rank = np.where(in_group, np.minimum(home * GROUP_SIZE + local, n_items - 1),
                    zipf_ranks(rng, n_items, n_events, a=0.9))
    item = perm[rank]
    t0 = pd.Timestamp("2025-01-01", tz="UTC")
    return pd.DataFrame({
        S.EVENT_ID: pd.Series(np.arange(n_events)).map("E{:09d}".format),
        S.USER_ID: pd.Series(user).map("U{:07d}".format),
        S.ITEM_ID: pd.Series(item).map("S{:07d}".format),
        S.EVENT_TYPE: S.EventType.PURCHASE.value,
        S.QUANTITY: rng.integers(1, 6, n_events).astype(np.float64),
        S.PRICE: 1.0,
        S.TIMESTAMP: t0 + pd.to_timedelta(np.round(when), unit="s"),
        S.SESSION_ID: pd.Series(np.repeat(np.arange(n_baskets), size)).map("B{:08d}".format),
    })


def write_shop(out: Path, n_items: int, n_events: int, n_users: int, days: int, test_days: int,
               seed: int, csv_gz: Path = DATA) -> dict:
    from benchmarks.scale_synth import synth_titles

    out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    titles, prices = synth_titles(n_items, csv_gz, seed)
    items = pd.DataFrame({
        S.ITEM_ID: [f"S{j:07d}" for j in range(n_items)],
        S.ITEM_TEXT: titles,
        S.PRICE: np.round(prices, 2),
        S.FIRST_SEEN: pd.Timestamp("2025-01-01", tz="UTC"),
    })
    ev = make_events(n_items, n_events, n_users, days, seed)
    cutoff = pd.Timestamp("2025-01-01", tz="UTC") + pd.Timedelta(days=days - test_days)
    ev[S.SPLIT] = np.where(ev[S.TIMESTAMP] < cutoff, "train", "test")
    ev = ev.sort_values([S.TIMESTAMP, S.EVENT_ID]).reset_index(drop=True)
    ev.to_parquet(out / S.EVENTS_FILE, index=False)
    items.to_parquet(out / S.ITEMS_FILE, index=False)
    split = {
        "protocol": "synthetic-scale", "kind": "time", "cutoff": cutoff.isoformat(),
        "validation_start": (cutoff - pd.Timedelta(days=test_days)).isoformat(),
        "validation_days": test_days, "source": "benchmarks.scale_train_data", "counts": {},
        "reference": {}, "cleaning": {},
    }
    (out / S.SPLIT_FILE).write_text(json.dumps(split, indent=2))
    return {"items": n_items, "events": n_events, "users": int(ev[S.USER_ID].nunique()),
            "train_events": int((ev[S.SPLIT] == "train").sum()), "seconds": time.perf_counter() - t}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, required=True)
    p.add_argument("--events", type=int, required=True)
    p.add_argument("--users", type=int, default=0, help="default: events / 20")
    p.add_argument("--days", type=int, default=120)
    p.add_argument("--test-days", type=int, default=14)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    info = write_shop(Path(a.out), a.items, a.events, a.users or max(10, a.events // 20), a.days,
                      a.test_days, a.seed)
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
