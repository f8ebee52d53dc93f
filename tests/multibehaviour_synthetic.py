"""A tiny synthetic multi-behaviour shop (views, add-to-carts, purchases; no cancellations):
users view a few items per session, cart some, and buy mostly what they carted, so purchase given
an interaction is a rare, learnable label."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fulcrum.core import schema as S
from offline.data.dataset import PreparedData
from offline.data.split import SplitInfo, time_split
from tests.ranking_synthetic import T0, make_events, make_items


def multibehaviour_prepared(n_users: int = 40, n_items: int = 30, sessions: int = 14, days: int = 30,
                            test_days: int = 6, validation_days: int = 6, seed: int = 0) -> PreparedData:
    rng = np.random.default_rng(seed)
    ids = [f"I{i:02d}" for i in range(n_items)]
    rows: list[tuple[str, str, str, float]] = []
    for u in range(n_users):
        for _ in range(sessions):
            day = float(rng.uniform(0, days))
            for j in rng.choice(n_items, 3, replace=False):
                rows.append((f"U{u:02d}", ids[j], S.EventType.VIEW.value, day))
                carted = rng.random() < 0.15
                if carted:
                    rows.append((f"U{u:02d}", ids[j], S.EventType.ADD_TO_CART.value, day + 0.01))
                if rng.random() < (0.4 if carted else 0.01):
                    rows.append((f"U{u:02d}", ids[j], S.EventType.PURCHASE.value, day + 0.02))
    events = make_events(rows).sort_values(S.TIMESTAMP, kind="stable").reset_index(drop=True)
    cutoff = T0 + pd.Timedelta(days=days - test_days)
    events[S.SPLIT] = time_split(events[S.TIMESTAMP], cutoff)
    split = SplitInfo.for_time("synthetic-mb", cutoff, validation_days=validation_days)
    return PreparedData(events=events, items=make_items(ids), split=split)
