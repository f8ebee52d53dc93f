"""Catalogue coverage@K: the share of the candidate catalogue that appears in anyone's top K."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from offline.eval._checks import check_k


def catalogue_coverage(recommendations: Iterable[Sequence[str]], catalogue_size: int, k: int) -> float:
    """|union of every user's top-k| / catalogue_size."""
    check_k(k)
    if catalogue_size < 1:
        raise ValueError(f"catalogue_size: must be positive, got {catalogue_size!r}")
    shown: set[str] = set()
    for recs in recommendations:
        shown.update(recs[:k])
    return len(shown) / catalogue_size
