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


def test_hand_worked_skyband() -> None:
    from offline.model.grid_topk import skyband

    # k = 1: item 2 (x 0, y 1, t 0) is beaten everywhere by item 0 (x 1, y 1, t 1): out. Item 3
    # (x -1, y 5) has the largest y: in (a large neighbour weight ranks it first). Item 1 (x 2)
    # has the largest x: in. Item 4 ties item 0's x: a tie beats nobody, so both stay
    x, y, t = np.array([1.0, 2.0, 0.0, -1.0, 1.0]), np.array([1.0, 0.0, 1.0, 5.0, 1.0]), np.zeros(5)
    assert skyband(x, y, t, 1).tolist() == [True, True, False, True, True]
    # with a repeat value for item 2 above item 0's under ONE of two shapes, item 2 stays
    r = np.array([[0.0, 0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    assert skyband(x, y, t, 1, r).tolist() == [True, True, True, True, True]
    # k = 2: item 2 is beaten by 0 and 4 (x 1 > 0, y 1 >= 1): out; with k = 3 it would need three
    assert skyband(x, y, t, 2).tolist() == [True, True, False, True, True]
    assert skyband(x, y, t, 3)[2]


def test_the_skyband_keeps_every_top_k_of_every_weighting() -> None:
    from offline.model.grid_topk import shortlist_topk, skyband

    rng = np.random.default_rng(7)
    n, k = 1500, 10
    pts = [(a, b, c) for a in (0.0, 0.3, 1.0, 4.0) for b in (0.0, 0.5, 3.0) for c in (0.0, 2.0, 64.0)]
    for _ in range(10):
        x = rng.standard_normal(n)
        y = np.where(rng.random(n) < 0.5, rng.random(n) * 3, 0.0)
        t = np.where(rng.random(n) < 0.1, rng.random(n) * 6, 0.0)
        r = np.zeros((2, n))
        own = rng.choice(n, 40, replace=False)
        r[:, own] = rng.random((2, 40)) * 3
        keep = skyband(x, y, t, k, r, block=200)  # blocks: the same answer in pieces
        assert keep.sum() < n / 3  # it prunes
        cand = np.arange(n)
        for shape in range(2):
            full = shortlist_topk(cand, x, y, t, pts, k, r[shape])
            cut = shortlist_topk(cand[keep], x[keep], y[keep], t[keep], pts, k, r[shape][keep])
            assert [f.tolist() for f in full] == [c.tolist() for c in cut]
