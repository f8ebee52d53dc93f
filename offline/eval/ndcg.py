"""NDCG@K with binary relevance; the ideal DCG places min(|relevant|, K) hits at the top."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

from offline.eval._checks import check_k, check_relevant


def ndcg_at_k(recommended: Sequence[str], relevant: Collection[str], k: int) -> float:
    """DCG = sum over ranks r (1-based) holding a relevant item of 1 / log2(r + 1), divided by the
    DCG of a perfect list. A repeated item only counts at its first rank."""
    check_k(k)
    check_relevant(relevant)
    relevant = set(relevant)
    seen: set[str] = set()
    dcg = 0.0
    for rank, item in enumerate(recommended[:k], start=1):
        if item in relevant and item not in seen:
            dcg += 1.0 / math.log2(rank + 1)
        seen.add(item)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(relevant), k) + 1))
    return dcg / ideal
