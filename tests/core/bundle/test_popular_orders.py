"""Upserts carry the popularity orders to the new snapshot (fulcrum/core/bundle/popular_orders.py)
instead of sorting the catalogue again: after random batches of new items and updates, every
order and derived value equals a fresh computation on the same snapshot."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from fulcrum.core.bundle.catalogue import Catalogue
from fulcrum.core.bundle.live_catalogue import LiveCatalogue

ORDERS = ("popular_order", "popular_now_order", "popular_now_pct", "popularity_pct")


def _catalogue(rng: np.random.Generator, n: int, trend: bool) -> Catalogue:
    rank = rng.integers(0, n // 2, size=n).astype(float)  # ties on purpose
    rank[rng.random(n) < 0.1] = np.nan  # unknown rank: placed last (rank n), ties by row
    items = pd.DataFrame(
        {"item_id": [f"i{j}" for j in range(n)], "text": ["x"] * n, "popularity_rank": rank}
    )
    vectors = rng.normal(size=(n, 4)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    prior = rng.choice([0.0, 0.1, 0.5, 0.9], size=n - 5) if trend else None  # shorter: padded
    return Catalogue.from_frame(items, vectors, trend=prior, trend_pad=0.1 if trend else 0.0)


@pytest.mark.parametrize(("seed", "trend"), [(0, True), (1, True), (2, False)])
def test_orders_after_upserts_equal_a_fresh_sort(seed: int, trend: bool) -> None:
    rng = np.random.default_rng(seed)
    live = LiveCatalogue(_catalogue(rng, 60, trend).warm())
    next_id = 0
    for _ in range(12):
        ids = []
        for _ in range(int(rng.integers(1, 6))):
            if rng.random() < 0.3:  # an update of an existing item (same rows)
                ids.append(str(rng.choice(live.current.item_ids)))
            else:
                ids.append(f"new-{next_id}")
                next_id += 1
        vectors = rng.normal(size=(len(ids), 4)).astype(np.float32)
        old = live.current
        cat = live.upsert(ids, [f"text {i}" for i in ids], vectors, [1.0] * len(ids), now=0.0)
        fresh = dataclasses.replace(cat)  # the same arrays, nothing cached: computed from scratch
        for name in ORDERS:
            assert getattr(cat, name).tolist() == getattr(fresh, name).tolist(), name
        if len(cat) > len(old):
            assert cat.popular_now_order is not old.popular_now_order  # carried, then grown
        assert old.popular_now_order.tolist() == dataclasses.replace(old).popular_now_order.tolist()
