"""Novelty@K: mean self-information of recommended items, -log2(share of users who bought it)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from offline.eval._checks import check_k


def novelty(recommendations: Iterable[Sequence[str]], item_users: Mapping[str, int], n_users: int,
            k: int) -> float:
    """Average over filled top-k slots of -log2(max(item_users[i], 1) / n_users).

    ``item_users`` counts the (train) users who interacted with each item; an unseen item counts
    as one user, so it scores the maximum log2(n_users). Higher = less obvious recommendations.
    """
    check_k(k)
    if n_users < 1:
        raise ValueError(f"n_users: must be positive, got {n_users!r}")
    total = 0.0
    slots = 0
    for recs in recommendations:
        for item in recs[:k]:
            total += -math.log2(max(item_users.get(item, 0), 1) / n_users)
            slots += 1
    return total / slots if slots else 0.0
