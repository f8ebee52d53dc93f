"""Exploration vs exploitation: Thompson sampling on purchase / impression counts.

Each candidate's purchase rate is a Beta posterior: ``Beta(a + purchases, b + trials -
purchases)`` with ``trials = max(impressions, purchases)`` (an item cannot be bought unseen, so
purchases bound impressions from below when impressions are not logged). One draw per candidate;
the ``n`` highest draws win. Items with few trials have wide posteriors, so new items get their
chance; proven items win most draws.
"""

from __future__ import annotations

import numpy as np


def exploration_count(k: int, share: float) -> int:
    """Slots given to exploration: ``share * k`` rounded half up, never the first slot."""
    if k <= 1 or share <= 0.0:
        return 0
    return min(int(np.floor(k * share + 0.5)), k - 1)


def thompson_sample(
    purchases: np.ndarray,
    impressions: np.ndarray,
    n: int,
    rng: np.random.Generator,
    prior: tuple[float, float] = (1.0, 1.0),
) -> np.ndarray:
    """Indices of the ``n`` candidates with the highest posterior draws, best first."""
    purchases = np.maximum(np.asarray(purchases, dtype=np.float64), 0.0)
    trials = np.maximum(np.asarray(impressions, dtype=np.float64), purchases)
    n = min(n, len(purchases))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    draws = rng.beta(prior[0] + purchases, prior[1] + trials - purchases)
    return np.argsort(-draws, kind="stable")[:n]


def exploration_positions(k: int, n: int) -> list[int]:
    """Where the ``n`` exploration items go among ``k`` slots: spread evenly, never slot 0."""
    if n <= 0:
        return []
    return [((i + 1) * k) // (n + 1) for i in range(n)]
