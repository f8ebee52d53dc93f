"""Recall@K as the OR-temporal protocol defines it: hits / min(|relevant|, K)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from offline.eval._checks import check_k, check_relevant


def recall_at_k(recommended: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Share of the reachable relevant items found in the top ``k``.

    The denominator is min(|relevant|, k), so a user with 30 targets can still score 1.0 at K=10.
    Duplicates in ``recommended`` count once.
    """
    check_k(k)
    check_relevant(relevant)
    relevant = set(relevant)
    hits = len(set(recommended[:k]) & relevant)
    return hits / min(len(relevant), k)
