"""Fusing the lexical and the dense ranking of a query into one score (pure functions).

Two methods, both over the union of each list's ``depth`` best rows:

- ``rrf`` (reciprocal rank fusion): ``w / (k + rank_lexical) + (1 - w) / (k + rank_dense)``,
  ranks from 1, a list that does not hold the row adds 0. Only ranks matter, so the two scorers'
  scales never need calibrating (a good default for any shop).
- ``weighted``: ``w * bm25 / max(bm25) + (1 - w) * cosine``, the lexical score scaled to [0, 1]
  per query.

Either may add ``coverage_weight x`` the share of the query's words an item contains (a word
counts when the item has any of its terms): an item naming everything the shopper typed is
ahead of one naming part of it, which BM25's per-term sum does not guarantee. With
``coverage_idf`` the share is weighted by each word's inverse document frequency (the words
few items have -- usually the product type, ``napkins`` in ``pink polka dot napkins`` -- count
more than the common attribute words).

Rows the lexical list holds have a positive BM25 score (an item sharing no term with the query
is not a lexical match). Blocked rows (filters, exclusions) are in neither list. The lexical
scores may come as ``SparseScores`` (the matching rows only), the dense ones too when an ANN
index chose the pool, and the blocked rows as ``BlockedRows``: then nothing here is O(catalogue)
(fulcrum/core/search/sparse_scores.py, fulcrum/core/blocked_rows.py), with the same results. Which method
and which ``w`` / ``k`` serve is chosen on a validation split of judged queries
(``fulcrum evaluate-search``), never on the queries that report the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from fulcrum.core.blocked_rows import Blocked, as_mask
from fulcrum.core.search.sparse_scores import SparseScores

#: [N] scores as an array or as the rows that have one
Scores = np.ndarray | SparseScores

METHODS = ("rrf", "weighted")


@dataclass(frozen=True)
class Fusion:
    method: Literal["rrf", "weighted"] = "rrf"
    lexical_weight: float = 0.5
    rrf_k: float = 60.0
    depth: int = 200
    #: added x the share of the query's words an item contains (any method)
    coverage_weight: float = 0.0
    #: weight each word of that share by its inverse document frequency
    coverage_idf: bool = False

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"fusion method {self.method!r} is not one of {METHODS}")
        if not 0.0 <= self.lexical_weight <= 1.0:
            raise ValueError(f"lexical_weight {self.lexical_weight} must be in [0, 1]")
        if not 0.0 <= self.coverage_weight <= 10.0:
            raise ValueError(f"coverage_weight {self.coverage_weight} must be in [0, 10]")
        if self.rrf_k <= 0 or self.depth < 1:
            raise ValueError(f"rrf_k ({self.rrf_k}) must be > 0 and depth ({self.depth}) >= 1")

    def describe(self) -> str:
        cov = f", coverage_weight={self.coverage_weight:g}" if self.coverage_weight else ""
        cov += " idf" if self.coverage_weight and self.coverage_idf else ""
        if self.method == "rrf":
            return f"rrf(k={self.rrf_k:g}, lexical_weight={self.lexical_weight:g}{cov})"
        return f"weighted(lexical_weight={self.lexical_weight:g}{cov})"


def top_rows(scores: np.ndarray, n: int, eligible: np.ndarray) -> np.ndarray:
    """Rows of the ``n`` best eligible scores, best first (ties: lower row first)."""
    rows = np.flatnonzero(eligible)
    return top_of(rows, scores[rows], n)


def top_of(rows: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """``top_rows`` given the eligible ``rows`` (ascending) and their scores."""
    if len(rows) > n:
        part = np.argpartition(-values, n - 1)[:n]
        rows, values = rows[part], values[part]
    order = np.lexsort((rows, -values))
    return rows[order].astype(np.int64)


def _lexical_rows(lexical: Scores, depth: int, blocked: Blocked | None) -> np.ndarray:
    """The lexical list: the ``depth`` best non-blocked rows with a positive score."""
    if isinstance(lexical, SparseScores):
        rows, values = lexical.rows, lexical.values
    else:
        rows = np.flatnonzero(lexical > 0)
        values = lexical[rows]
    keep = values > 0
    if blocked is not None:
        keep &= ~blocked[rows]
    return top_of(rows[keep], values[keep], depth)


def fuse(
    lexical: Scores,
    dense: Scores,
    fusion: Fusion,
    blocked: Blocked | None = None,
    coverage: np.ndarray | Callable[[np.ndarray], np.ndarray] | None = None,
    dense_pool: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(candidate rows, fused scores), best first (ties: lower row first). ``coverage``: [N]
    share of the query's words each row contains, added x ``fusion.coverage_weight``, or a
    function of the candidate rows. ``dense_pool``: rows known to hold the best dense scores (an
    ANN index's pool): the dense list is taken from them instead of from every row (``dense``
    may then be ``SparseScores``); without it ``dense`` is an [N] array."""
    lex_rows = _lexical_rows(lexical, fusion.depth, blocked)
    if dense_pool is None:
        mask = as_mask(blocked)
        allowed = np.ones(len(dense), dtype=bool) if mask is None else ~mask
        dense_rows = top_rows(np.asarray(dense), fusion.depth, allowed)
    else:
        rows = np.asarray(dense_pool, dtype=np.int64)
        if blocked is not None:
            rows = rows[~blocked[rows]]
        dense_rows = rows[np.lexsort((rows, -dense[rows]))][: fusion.depth]
    cand = np.union1d(lex_rows, dense_rows).astype(np.int64)
    w = fusion.lexical_weight
    if fusion.method == "rrf":
        score = np.zeros(len(cand), dtype=np.float64)
        for rows, weight in ((lex_rows, w), (dense_rows, 1.0 - w)):
            if weight > 0 and len(rows):
                idx = np.searchsorted(cand, rows)  # cand is sorted (union1d)
                score[idx] += weight / (fusion.rrf_k + np.arange(1, len(rows) + 1))
    else:
        top = float(lexical[lex_rows[:1]][0]) if len(lex_rows) else 0.0
        lex = lexical[cand] / top if top > 0 else np.zeros(len(cand))
        score = w * lex + (1.0 - w) * dense[cand].astype(np.float64)
    if coverage is not None and fusion.coverage_weight > 0:
        # an [N] array, or a function of the candidate rows (a big catalogue's ANN path)
        covered = coverage(cand) if callable(coverage) else coverage[cand]
        score = score + fusion.coverage_weight * covered
    order = np.lexsort((cand, -score))
    return cand[order], score[order]


def personalise(scores: np.ndarray, user_affinity: np.ndarray, weight: float) -> np.ndarray:
    """``score + weight * (max - min of the scores) * affinity``: a user's taste (cosine in
    [-1, 1]) can move an item by at most ``weight`` of the query's score spread, so it reorders
    near-ties between equally relevant items and cannot lift an unrelated item over a match."""
    if weight <= 0 or len(scores) == 0:
        return scores
    spread = float(scores.max() - scores.min())
    return scores + weight * spread * np.clip(user_affinity, -1.0, 1.0)
