"""Graded search metrics over one query's ranked item ids (pure functions).

``grades`` maps item id -> judged grade (0-3); an item that is not judged counts as grade 0.

- ``ndcg_at_k``: DCG = sum over ranks r = 1..k of (2^grade - 1) / log2(r + 1); the ideal DCG
  comes from the query's judged grades sorted high to low; 0 when the query has no positive grade.
- ``recall_at_k``: share of the judged items with grade >= ``min_grade`` found in the top k
  (None when the query has none: it does not enter the mean).
- ``reciprocal_rank``: 1 / rank of the first item with grade >= ``grade`` (0 when none is
  retrieved; None when the query has no such judged item).
- ``judged_fraction``: share of the top k that has a judgment (None for an empty list).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def _gain(grade: float) -> float:
    return 2.0**grade - 1.0


def dcg(grades_in_order: Sequence[float]) -> float:
    return sum(_gain(g) / math.log2(r + 2) for r, g in enumerate(grades_in_order))


def ndcg_at_k(ranked: Sequence[str], grades: Mapping[str, float], k: int = 10) -> float:
    ideal = dcg(sorted(grades.values(), reverse=True)[:k])
    if ideal <= 0:
        return 0.0
    return dcg([grades.get(i, 0.0) for i in ranked[:k]]) / ideal


def recall_at_k(
    ranked: Sequence[str], grades: Mapping[str, float], k: int = 50, min_grade: float = 2
) -> float | None:
    relevant = {i for i, g in grades.items() if g >= min_grade}
    if not relevant:
        return None
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def reciprocal_rank(ranked: Sequence[str], grades: Mapping[str, float], grade: float = 3) -> float | None:
    if not any(g >= grade for g in grades.values()):
        return None
    for r, item in enumerate(ranked, start=1):
        if grades.get(item, 0.0) >= grade:
            return 1.0 / r
    return 0.0


def judged_fraction(ranked: Sequence[str], grades: Mapping[str, float], k: int = 10) -> float | None:
    top = ranked[:k]
    if not top:
        return None
    return sum(1 for i in top if i in grades) / len(top)
