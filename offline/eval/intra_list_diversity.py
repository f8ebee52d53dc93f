"""Intra-list diversity@K: mean pairwise cosine distance between a list's item embeddings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from offline.eval._checks import check_k


def intra_list_diversity(recommended: Sequence[str], embeddings: Mapping[str, np.ndarray], k: int) -> float:
    """Mean of (1 - cosine similarity) over all unordered pairs of the top-k items that have an
    embedding. Fewer than two such items gives 0.0 (nothing to be diverse about)."""
    check_k(k)
    vectors = [np.asarray(embeddings[i], dtype=np.float64) for i in recommended[:k] if i in embeddings]
    if len(vectors) < 2:
        return 0.0
    m = np.stack(vectors)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    m = m / np.where(norms == 0, 1.0, norms)
    sims = m @ m.T
    n = len(vectors)
    upper = sims[np.triu_indices(n, k=1)]
    return float(np.mean(1.0 - upper))
