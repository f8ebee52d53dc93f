"""Recommend's candidates for a cold user (no known stored history), without a catalogue pass.

The cold score of a row is ``cold_start_scores(popular_now_pct, context)``: its "popular now"
percentile, mixed with the cosine to the session items' centre when the request has session
items (fulcrum/core/rerank/cold_start.py).

- **No session items**: the score is the percentile alone, which falls strictly along
  ``Catalogue.popular_now_order`` (precomputed once per snapshot; every row has a distinct
  value, 1 - i/N). The best ``n`` non-blocked rows are therefore the first ``n`` non-blocked
  rows of that order: read from a prefix that grows x4 until it holds ``n`` of them (or the
  order ends). Identical to scoring and partitioning every row (same rows, order and scores).
- **Session items, ANN index active** (``Catalogue.ann_active``): only a pool is scored, exactly
  -- the ``depth`` rows nearest to the session centre in the Recommend index, the index's stale
  rows and the first ``depth`` rows of ``popular_now_order`` (``depth`` = ``max(ann_pool, n)``
  to start with). The score is increasing in both popularity and cosine, so a row outside the
  pool scores at most the mix of the popularity of the first row past the prefix and the cosine
  of the index list's last row (a threshold-algorithm bound). When the pool's n-th best beats
  that bound, the pool's top n is the full scan's (up to the index's own recall: a near row the
  HNSW search missed); otherwise ``depth`` grows x4, and past 1/8 of the catalogue (also when
  blocked rows leave fewer than ``n`` in the pool) the full scan runs instead.
- **Session items, below the ANN threshold** (or no index): every row is scored (exact).

Work per request: O(n) for the first case (plus the blocked rows the prefix skips),
O(depth x D) for the second (depth certified as above), O(N x D) for the third.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fulcrum.core.bundle.ann_retrieval import MAX_DEPTH_SHARE
from fulcrum.core.bundle.retrieval import top_candidates
from fulcrum.core.rerank.cold_start import cold_start_scores

if TYPE_CHECKING:
    from fulcrum.core.bundle.catalogue import Catalogue

#: the first prefix of ``popular_now_order`` read is this many times ``n`` (then x4 while short)
_FIRST_PREFIX = 2


def popular_now_unblocked(cat: Catalogue, n: int, blocked: np.ndarray | None) -> np.ndarray:
    """The first ``n`` rows of ``cat.popular_now_order`` that are not blocked (fewer when the
    order runs out), in that order, reading only a prefix of it."""
    order = cat.popular_now_order
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    m = min(len(order), _FIRST_PREFIX * n)
    while True:
        head = order[:m]
        if blocked is not None:
            head = head[~blocked[head]]
        if len(head) >= n or m >= len(order):
            return head[:n].astype(np.int64)
        m = min(len(order), m * 4)


def session_centre(cat: Catalogue, session_rows: np.ndarray) -> np.ndarray:
    """The unit mean of the session items' vectors."""
    centre = cat.embeddings[session_rows].mean(axis=0)
    return centre / max(float(np.linalg.norm(centre)), 1e-12)


def cold_candidates(
    cat: Catalogue, session_rows: np.ndarray, n: int, blocked: np.ndarray | None, context_weight: float
) -> tuple[np.ndarray, np.ndarray]:
    """(the ``n`` best non-blocked rows by cold score, best first; their cold scores)."""
    if not len(session_rows):
        rows = popular_now_unblocked(cat, n, blocked)
        return rows, cat.popular_now_pct[rows]
    centre = session_centre(cat, session_rows)
    if cat.ann_active:
        got = _pooled(cat, centre, n, blocked, context_weight)
        if got is not None:
            return got
    scores = cold_start_scores(cat.popular_now_pct, cat.embeddings @ centre, context_weight)
    cand = top_candidates(scores, n, blocked)
    return cand, scores[cand]


def _pooled(
    cat: Catalogue, centre: np.ndarray, n: int, blocked: np.ndarray | None, context_weight: float
) -> tuple[np.ndarray, np.ndarray] | None:
    parts = cat.ann
    if parts is None:
        raise ValueError("a pooled cold retrieval needs a catalogue with ANN parts")
    size = len(cat)
    order, pct = cat.popular_now_order, cat.popular_now_pct
    stale = parts.stale[parts.stale < size]
    depth = max(parts.settings.pool, n)
    limit = max(size // MAX_DEPTH_SHARE, depth)
    while True:
        near = parts.recommend.search(centre, min(depth, size), parts.settings.ef_search)
        near = near[near < size]
        if not len(near):
            return None
        # every row outside the list is (up to the index's recall) no nearer than its last row
        cos_floor = float(np.min(cat.embeddings[near] @ centre))
        pool = np.unique(np.concatenate([near, stale, order[:depth]]))
        if blocked is not None:
            pool = pool[~blocked[pool]]
        scores = cold_start_scores(pct[pool], cat.embeddings[pool] @ centre, context_weight)
        best = top_candidates(scores, n)  # ties by the lower row: the pool is sorted
        # the best a row outside the pool can score: the popularity of the first row past the
        # prefix, the cosine of the list's last row
        outside = cold_start_scores(
            pct[order[depth:depth + 1]] if depth < size else np.zeros(1),
            np.array([cos_floor]), context_weight,
        )[0]
        if depth >= size or (len(best) == n and scores[best[-1]] > outside):
            return pool[best], scores[best]
        if depth >= limit:
            return None
        depth = min(depth * 4, limit)
