"""A tiny synthetic shop for the ranking tests: some items are 'risky' (often cancelled by the
buyer within days), users prefer a few items, so both heads have something to learn."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fulcrum.core import schema as S
from offline.data.dataset import PreparedData
from offline.data.split import SplitInfo, time_split

T0 = pd.Timestamp("2011-01-01", tz="UTC")


def make_events(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    """rows: (user, item, event type, day offset from T0)."""
    return pd.DataFrame(
        {
            S.EVENT_ID: [f"e{i}" for i in range(len(rows))],
            S.USER_ID: [r[0] for r in rows],
            S.ITEM_ID: [r[1] for r in rows],
            S.EVENT_TYPE: [r[2] for r in rows],
            S.QUANTITY: [1.0] * len(rows),
            S.PRICE: [2.0] * len(rows),
            S.TIMESTAMP: [T0 + pd.Timedelta(days=r[3]) for r in rows],
            S.SESSION_ID: ["s"] * len(rows),
            S.SPLIT: ["train"] * len(rows),
        }
    )


def make_items(ids: list[str], first_day: dict[str, float] | None = None) -> pd.DataFrame:
    first_day = first_day or {}
    return pd.DataFrame(
        {
            S.ITEM_ID: ids,
            S.ITEM_TEXT: [f"item {i}" for i in ids],
            S.PRICE: np.linspace(1.0, 5.0, len(ids)),
            S.FIRST_SEEN: [T0 + pd.Timedelta(days=first_day.get(i, 0.0)) for i in ids],
        }
    )


def synthetic_prepared(
    n_users: int = 40,
    n_items: int = 30,
    n_baskets: int = 260,
    days: int = 90,
    test_days: int = 20,
    seed: int = 0,
) -> PreparedData:
    rng = np.random.default_rng(seed)
    ids = [f"I{i:02d}" for i in range(n_items)]
    risky = set(ids[:6])
    fav = {u: rng.choice(n_items, 5, replace=False) for u in range(n_users)}
    rows: list[tuple[str, str, str, float]] = []
    for _ in range(n_baskets):
        u = int(rng.integers(n_users))
        day = float(rng.uniform(0, days))
        for _ in range(int(rng.integers(1, 4))):
            i = ids[int(rng.choice(fav[u]))] if rng.random() < 0.8 else ids[int(rng.integers(n_items))]
            rows.append((f"U{u:02d}", i, S.EventType.PURCHASE.value, day))
            if rng.random() < (0.5 if i in risky else 0.02):
                rows.append((f"U{u:02d}", i, S.EventType.CANCEL.value, day + float(rng.uniform(0.1, 5))))
    events = make_events(rows).sort_values(S.TIMESTAMP, kind="stable").reset_index(drop=True)
    cutoff = T0 + pd.Timedelta(days=days - test_days)
    events[S.SPLIT] = time_split(events[S.TIMESTAMP], cutoff)
    split = SplitInfo.for_time("synthetic", cutoff, validation_days=20)
    return PreparedData(events=events, items=make_items(ids), split=split)
