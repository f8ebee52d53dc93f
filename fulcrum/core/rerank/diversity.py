"""Diversity: maximal marginal relevance over item embeddings.

Greedy: at each step pick the candidate maximising
``(1 - weight) * relevance - weight * max(0, max cosine to the items already picked)``.
Relevance is min-max normalised to [0, 1] first so the weight means the same for any scorer.
``weight = 0`` is plain relevance order.
"""

from __future__ import annotations

import numpy as np


def normalise(relevance: np.ndarray) -> np.ndarray:
    rel = np.asarray(relevance, dtype=np.float64)
    span = rel.max() - rel.min() if len(rel) else 0.0
    return np.ones_like(rel) if span <= 0 else (rel - rel.min()) / span


def mmr(relevance: np.ndarray, embeddings: np.ndarray, k: int, weight: float) -> np.ndarray:
    """Indices of ``k`` candidates (or all, if fewer) in MMR order."""
    n = len(relevance)
    k = min(k, n)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    rel = normalise(relevance)
    if weight <= 0.0:
        return np.argsort(-rel, kind="stable")[:k]
    emb = np.asarray(embeddings, dtype=np.float64)
    sims = emb @ emb.T  # pairwise cosines of the (small) candidate pool, once
    gain = (1.0 - weight) * rel
    penalty = np.zeros(n)  # max(0, cosine to the picked items): dissimilarity earns no bonus
    taken = np.zeros(n, dtype=bool)
    chosen = np.empty(k, dtype=np.int64)
    for step in range(k):
        score = gain - weight * penalty
        score[taken] = -np.inf
        best = int(score.argmax())
        chosen[step] = best
        taken[best] = True
        np.maximum(penalty, sims[best], out=penalty)
    return chosen


#: MMR looks at this many of the best candidates per slot asked (its cost grows with the pool)
POOL_PER_SLOT = 5
POOL_MIN = 50


def mmr_pool(relevance: np.ndarray, k: int) -> np.ndarray:
    """Indices of the best ``max(POOL_MIN, POOL_PER_SLOT * k)`` candidates, best first."""
    rel = np.asarray(relevance)
    n = min(len(rel), max(POOL_MIN, POOL_PER_SLOT * k))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-rel, n - 1)[:n] if n < len(rel) else np.arange(len(rel))
    return part[np.argsort(-rel[part], kind="stable")].astype(np.int64)
