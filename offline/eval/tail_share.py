"""Tail share@K: the share of recommended slots holding items outside the popular head."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from offline.eval._checks import check_k


def tail_share(recommendations: Iterable[Sequence[str]], head_items: Collection[str], k: int) -> float:
    """Slots in the top-k lists whose item is not in ``head_items``, over all filled slots
    (short lists contribute only the slots they fill). No slots at all gives 0.0."""
    check_k(k)
    head = set(head_items)
    slots = tail = 0
    for recs in recommendations:
        top = recs[:k]
        slots += len(top)
        tail += sum(1 for item in top if item not in head)
    return tail / slots if slots else 0.0
