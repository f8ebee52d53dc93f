"""Merging the exploitation list with the exploration picks into the final k slots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def fill_slots(exploit: Sequence[T], explore: Sequence[T], positions: Sequence[int], k: int) -> list[T]:
    """Exploration items at ``positions`` (in order), exploitation items everywhere else.

    When one list runs short the other fills the remaining slots, so the result has
    ``min(k, len(exploit) + len(explore))`` items and no duplicates of the same object.
    """
    out: list[T] = []
    seen: set[T] = set()
    exp_iter = iter(explore)
    exl_iter = iter(exploit)
    wanted = set(positions)

    def take(it) -> T | None:
        for x in it:
            if x not in seen:
                return x
        return None

    while len(out) < k:
        first, second = (exp_iter, exl_iter) if len(out) in wanted else (exl_iter, exp_iter)
        item = take(first)
        if item is None:
            item = take(second)
        if item is None:
            break
        seen.add(item)
        out.append(item)
    return out
