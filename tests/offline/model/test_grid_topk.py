"""The hybrid grid's shortlist top k equals ranking every allowed item (offline/model/grid_topk.py)."""

from __future__ import annotations

import numpy as np
import pytest

from offline.model.grid_topk import grid_topk, shortlist


def test_hand_worked_shortlist() -> None:
    # items 0-5; y and t at their minimum (0) except item 4 (y 2) and item 5 (t 1); item 1 barred
    x = np.array([0.9, 5.0, 0.1, 0.5, -3.0, -2.0])
    y = np.array([0.0, 0.0, 0.0, 0.0, 2.0, 0.0])
    t = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    allowed = np.array([True, False, True, True, True, True])
    # k = 2: the special items 4 and 5, plus the 2 best by x among the rest (0: 0.9, 3: 0.5)
    assert sorted(shortlist(x, y, t, allowed, 2).tolist()) == [0, 3, 4, 5]
    # (0, 0): x alone -> 0, 3; (3, 0): item 4 = -3 + 6 = 3 -> 4, 0; (0, 3): item 5 = -2 + 3 = 1 -> 5, 0
    got = grid_topk(x, y, t, allowed, [(0.0, 0.0), (3.0, 0.0), (0.0, 3.0)], 2)
    assert [g.tolist() for g in got] == [[0, 3], [4, 0], [5, 0]]
    with pytest.raises(ValueError):
        grid_topk(x, y, t, allowed, [(-1.0, 0.0)], 2)


def test_equals_the_full_ranking_on_a_heavy_tailed_row() -> None:
    rng = np.random.default_rng(4)
    n, k = 5000, 10
    weights = [(a, b) for a in (0.0, 0.1, 0.5, 1.0) for b in (0.0, 0.2, 1.0, 3.0)]
    for _ in range(20):
        x = rng.standard_normal(n)
        y = np.zeros(n)
        y[rng.choice(n, 30, replace=False)] = rng.random(30) * 3  # a few neighbours
        t = np.full(n, -0.2)
        t[rng.choice(n, 200, replace=False)] = rng.random(200) * 6  # a few trending items
        allowed = rng.random(n) > 0.3
        for (a, b), top in zip(weights, grid_topk(x, y, t, allowed, weights, k), strict=True):
            s = np.where(allowed, x + a * y + b * t, -np.inf)
            assert top.tolist() == np.argsort(-s, kind="stable")[:k].tolist()
    # fewer allowed items than slots: every allowed item, best first
    allowed = np.zeros(n, dtype=bool)
    allowed[[3, 7]] = True
    assert grid_topk(x, y, t, allowed, [(0.0, 0.0)], k)[0].tolist() == sorted([3, 7], key=lambda j: -x[j])
