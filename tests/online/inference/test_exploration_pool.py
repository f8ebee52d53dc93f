"""exploration_pool's eligibility (online/inference/exploration_pool.py), hand-worked, and the
same pools as the np.isin formulation it replaced on random small catalogues."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from fulcrum.core import blocked_rows
from fulcrum.core.blocked_rows import BlockedRows
from online.inference.exploration_pool import exploration_pool


def _cat(impressions, purchases):
    imp = np.asarray(impressions, dtype=np.float64)
    pur = np.asarray(purchases, dtype=np.float64)

    def low_trial_rows(threshold):
        return np.flatnonzero(np.maximum(imp, pur) < threshold)

    return SimpleNamespace(impressions=imp, purchases=pur, low_trial_rows=low_trial_rows)


def test_hand_worked_pool() -> None:
    # 6 rows; threshold 3: rows 0, 1, 2 are new (trials 0, 2, 1), rows 3, 4, 5 are not (5, 3, 9)
    cat = _cat([0, 2, 1, 5, 3, 9], [0, 0, 0, 1, 0, 0])
    blocked = np.array([False, True, False, False, False, False])  # row 1 blocked
    exploit = np.array([2])  # row 2 is in the exploitation list: never eligible
    leftovers = np.array([4, 2])  # row 4 a retrieval leftover (eligible though not new); 2 exploited
    pool = exploration_pool(cat, blocked, exploit, leftovers, 3, np.random.default_rng(0), 10)
    assert pool.tolist() == [0, 4]


def _isin_pool(cat, blocked, exploit, leftovers, threshold, rng, size):
    # the formulation before the byte marks (np.isin on both sides)
    new_rows = cat.low_trial_rows(threshold)

    def eligible(rows):
        trials = np.maximum(cat.impressions[rows], cat.purchases[rows])
        ok = ((trials < threshold) & ~blocked[rows]) | np.isin(rows, leftovers)
        return rows[ok & ~np.isin(rows, exploit)]

    candidates = np.concatenate([new_rows, leftovers])
    if len(candidates) <= 4 * size:
        pool = np.unique(eligible(candidates))
        if len(pool) > size:
            pool = np.unique(pool[rng.integers(0, len(pool), size)])
        return pool
    drawn = eligible(candidates[rng.integers(0, len(candidates), 2 * size)])
    _, first = np.unique(drawn, return_index=True)
    return np.sort(drawn[np.sort(first)][:size])


@pytest.mark.parametrize("mask_below", [blocked_rows.MASK_BELOW, 0])  # byte marks; binary search
def test_same_pools_as_the_isin_formulation(mask_below: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blocked_rows, "MASK_BELOW", mask_below)
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(1, 60))
        cat = _cat(rng.integers(0, 6, n), rng.integers(0, 3, n))
        blocked = rng.random(n) < 0.3
        exploit = rng.choice(n, int(rng.integers(0, min(n, 8) + 1)), replace=False)
        leftovers = rng.choice(n, int(rng.integers(0, n + 1)), replace=False)
        size = int(rng.integers(1, 12))
        seed = int(rng.integers(0, 1000))
        want = _isin_pool(cat, blocked, exploit, leftovers, 3, np.random.default_rng(seed), size)
        got = exploration_pool(cat, blocked, exploit, leftovers, 3, np.random.default_rng(seed), size)
        assert got.tolist() == want.tolist()
        # the blocked rows as a sorted array (what Recommend passes) instead of the mask
        rows = BlockedRows.of(n, np.flatnonzero(blocked))
        got = exploration_pool(cat, rows, exploit, leftovers, 3, np.random.default_rng(seed), size)
        assert got.tolist() == want.tolist()
