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
  -- the ``max(ann_pool, n)`` non-blocked rows nearest to the session centre in the Recommend
  index (``nearest_allowed``, as the warm path's pool), the index's stale rows, and the first
  ``max(ann_pool, n)`` non-blocked rows of ``popular_now_order``. A row outside the pool (neither
  near the centre nor among the most popular now) is not a candidate even where its mix would
  have made the top: the rows missed are those of middling popularity AND middling cosine.
  Recall against the full scan is in docs/scaling.md (on a 100k synthetic catalogue with the
  default ``ann_pool``: recall@10 0.90, recall@200 0.45). A certified variant (grow the depth
  until a threshold-algorithm bound proves the top n exact) reached recall 1.0 but needed an
  index search ~16x deeper, slower than the full scan, so it is not used. When blocked rows
  would force the index search deeper than 1/8 of the catalogue, the full scan runs instead.
- **Session items, below the ANN threshold** (or no index): every row is scored (exact).

Work per request: O(n) for the first case (plus the blocked rows the prefix skips),
O(pool x D) for the second, O(N x D) for the third.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fulcrum.core.blocked_rows import Blocked
from fulcrum.core.bundle.ann_retrieval import nearest_allowed
from fulcrum.core.bundle.retrieval import top_candidates
from fulcrum.core.rerank.cold_start import cold_start_scores

if TYPE_CHECKING:
    from fulcrum.core.bundle.catalogue import Catalogue

#: the first prefix of ``popular_now_order`` read is this many times ``n`` (then x4 while short)
_FIRST_PREFIX = 2


def popular_now_unblocked(cat: Catalogue, n: int, blocked: Blocked | None) -> np.ndarray:
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
    cat: Catalogue, session_rows: np.ndarray, n: int, blocked: Blocked | None, context_weight: float
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
    cat: Catalogue, centre: np.ndarray, n: int, blocked: Blocked | None, context_weight: float
) -> tuple[np.ndarray, np.ndarray] | None:
    parts = cat.ann
    if parts is None:
        raise ValueError("a pooled cold retrieval needs a catalogue with ANN parts")
    size = len(cat)
    want = max(parts.settings.pool, n)
    near = nearest_allowed(parts.recommend, centre, want, size, parts.settings.ef_search, blocked)
    if near is None:
        return None
    stale = parts.stale[parts.stale < size]
    if blocked is not None:
        stale = stale[~blocked[stale]]
    pool = np.unique(np.concatenate([near, stale, popular_now_unblocked(cat, want, blocked)]))
    context = cat.embeddings[pool] @ centre
    scores = cold_start_scores(cat.popular_now_pct[pool], context, context_weight)
    best = top_candidates(scores, n)  # ties by the lower row: the pool is sorted
    return pool[best], scores[best]
