"""Turn item scores into the harness's recommend function (exclusions, top-k, unknown users).

A baseline only has to provide ``fit(interactions)``, ``score(user_rows) -> (batch, n_items)``
for known users and ``score_unknown() -> (n_items,)`` for users it never saw.
"""

from __future__ import annotations

from typing import Protocol as TypingProtocol

import numpy as np

from offline.baselines.interactions import Interactions


class ScoringModel(TypingProtocol):
    def fit(self, interactions: Interactions) -> None: ...
    def score(self, user_rows: np.ndarray) -> np.ndarray: ...
    def score_unknown(self) -> np.ndarray: ...


def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest finite scores, best first; ties keep the lower index.

    >>> top_k_indices(np.array([0.1, 0.9, -np.inf, 0.5]), 3).tolist()
    [1, 3, 0]
    """
    finite = np.flatnonzero(np.isfinite(scores))
    if finite.size == 0:
        return finite
    k = min(k, finite.size)
    values = scores[finite]
    if k < finite.size:
        part = np.argpartition(-values, k - 1)[:k]
    else:
        part = np.arange(finite.size)
    order = np.lexsort((finite[part], -values[part]))
    return finite[part][order]


class ScoreRecommender:
    """Callable as ``recommend_fn(user_ids, k, exclude) -> list[list[str]]``."""

    def __init__(self, model: ScoringModel, interactions: Interactions,
                 pool: frozenset[str] | None = None) -> None:
        """``pool``: the protocol's candidate items; others never get recommended (needed when the
        model learnt from more items than were bought, e.g. viewed-only items)."""
        self.model = model
        self.interactions = interactions
        self._outside = None
        if pool is not None:
            self._outside = np.array([str(i) not in pool for i in interactions.item_ids], dtype=bool)
            if not self._outside.any():
                self._outside = None

    def __call__(self, user_ids: list[str], k: int, exclude: dict[str, set[str]]) -> list[list[str]]:
        inter = self.interactions
        rows = np.array([inter.user_index.get(u, -1) for u in user_ids], dtype=np.int64)
        known = rows >= 0
        scores = np.empty((len(user_ids), len(inter.item_ids)), dtype=np.float64)
        if known.any():
            scores[known] = self.model.score(rows[known])
        if (~known).any():
            scores[~known] = self.model.score_unknown()[None, :]
        if self._outside is not None:
            scores[:, self._outside] = -np.inf
        result: list[list[str]] = []
        for i, user in enumerate(user_ids):
            banned = [inter.item_index[it] for it in exclude.get(user, ()) if it in inter.item_index]
            if banned:
                scores[i, banned] = -np.inf
            result.append([str(inter.item_ids[j]) for j in top_k_indices(scores[i], k)])
        return result
