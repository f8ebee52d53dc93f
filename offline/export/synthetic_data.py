"""A small synthetic shop in the prepared-data layout (events.parquet, items.parquet, split.json).

Users have a favourite topic and mostly buy items of it, so co-purchase and text carry signal;
a few purchases are cancelled. Used by the tiny bundle and the tests (a few hundred events).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from fulcrum.core import schema as S

TOPICS: dict[str, tuple[str, ...]] = {
    "candle": ("red", "white", "heart", "holder", "light", "glass"),
    "bag": ("jumbo", "retro", "spot", "lunch", "shopper", "paisley"),
    "cake": ("pink", "tea", "party", "cases", "paper", "vintage"),
    "garden": ("bird", "house", "wooden", "sign", "metal", "lantern"),
}


def synthetic_words() -> list[str]:
    return sorted({w for t, ws in TOPICS.items() for w in (t, *ws)})


def make_synthetic(
    n_users: int = 30,
    n_items: int = 40,
    n_events: int = 400,
    seed: int = 0,
    start: str = "2011-01-01",
    days: int = 60,
    test_days: int = 12,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(events, items, split) DataFrames in the schema of fulcrum.core.schema."""
    rng = np.random.default_rng(seed)
    topics = list(TOPICS)
    item_topic = np.arange(n_items) % len(topics)
    t0 = pd.Timestamp(start, tz="UTC")
    texts = []
    for i in range(n_items):
        words = rng.choice(TOPICS[topics[item_topic[i]]], size=2, replace=False)
        texts.append(f"{words[0]} {words[1]} {topics[item_topic[i]]} {i}")
    items = pd.DataFrame(
        {
            S.ITEM_ID: [f"I{i:03d}" for i in range(n_items)],
            S.ITEM_TEXT: texts,
            S.PRICE: np.round(rng.uniform(0.5, 20.0, n_items), 2),
            S.FIRST_SEEN: [t0 + pd.Timedelta(days=int(d)) for d in rng.integers(0, days // 2, n_items)],
        }
    )
    user_topic = rng.integers(0, len(topics), n_users)
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.7
    rows: list[tuple] = []
    while len(rows) < n_events:  # baskets of 1-4 items bought at the same moment
        u = int(rng.integers(0, n_users))
        ts = t0 + pd.Timedelta(minutes=int(rng.integers(0, days * 24 * 60)))
        for _ in range(int(rng.integers(1, 5))):
            same = np.flatnonzero(item_topic == user_topic[u]) if rng.random() < 0.8 else np.arange(n_items)
            i = int(rng.choice(same, p=pop[same] / pop[same].sum()))
            etype = S.EventType.CANCEL.value if rng.random() < 0.05 else S.EventType.PURCHASE.value
            qty = float(rng.integers(1, 12)) * (-1.0 if etype == S.EventType.CANCEL.value else 1.0)
            rows.append(
                (
                    f"E{len(rows):05d}",
                    f"U{u:03d}",
                    items[S.ITEM_ID].iat[i],
                    etype,
                    qty,
                    float(items[S.PRICE].iat[i]),
                    ts,
                    f"S{u:03d}-{ts.dayofyear}",
                )
            )
    ev = pd.DataFrame(rows, columns=list(S.EVENT_COLUMNS[:-1]))
    ev[S.TIMESTAMP] = pd.to_datetime(ev[S.TIMESTAMP], utc=True)
    cutoff = t0 + pd.Timedelta(days=days - test_days)
    ev[S.SPLIT] = np.where(ev[S.TIMESTAMP] < cutoff, "train", "test")
    ev = ev.sort_values([S.TIMESTAMP, S.EVENT_ID]).reset_index(drop=True)
    # the split.json layout of offline.data.split.SplitInfo (time split)
    split = {
        "protocol": "synthetic-temporal",
        "kind": "time",
        "cutoff": cutoff.isoformat(),
        "validation_start": (cutoff - pd.Timedelta(days=test_days)).isoformat(),
        "validation_days": test_days,
        "source": "synthetic",
        "counts": {},
        "reference": {},
        "cleaning": {},
    }
    return ev, items, split


def write_synthetic_prepared(out_dir: str | Path, **kwargs) -> Path:
    """Write the synthetic shop as a prepared-data folder; returns it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ev, items, split = make_synthetic(**kwargs)
    ev.to_parquet(out / S.EVENTS_FILE, index=False)
    items.to_parquet(out / S.ITEMS_FILE, index=False)
    (out / S.SPLIT_FILE).write_text(json.dumps(split, indent=2))
    return out
