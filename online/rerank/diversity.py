"""Diversity: maximal marginal relevance over item embeddings.

Greedy: at each step pick the candidate maximising
``(1 - weight) * relevance - weight * max cosine to the items already picked``.
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
    max_sim = np.full(n, -np.inf)
    chosen: list[int] = []
    available = np.ones(n, dtype=bool)
    for _ in range(k):
        penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
        score = (1.0 - weight) * rel - weight * penalty
        score[~available] = -np.inf
        best = int(np.argmax(score))
        chosen.append(best)
        available[best] = False
        max_sim = np.maximum(max_sim, emb @ emb[best])
    return np.array(chosen, dtype=np.int64)
