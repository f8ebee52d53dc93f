"""HitRate@K: 1 when at least one relevant item is in the top K, else 0."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from offline.eval._checks import check_k, check_relevant


def hit_rate_at_k(recommended: Sequence[str], relevant: Collection[str], k: int) -> float:
    check_k(k)
    check_relevant(relevant)
    relevant = set(relevant)
    return 1.0 if any(item in relevant for item in recommended[:k]) else 0.0
