"""Retrieval through the ANN index: a candidate pool, then the exact score on the pool only.

Recommend (``pool_candidates``): the pool is

- the ``pool`` non-blocked rows nearest to the user vector in the index (the search deepens
  while blocked rows eat the list; beyond 1/8 of the catalogue the caller scores exactly),
- the rows whose index vector is stale (an upsert replaced their vector),
- with the hybrid score: every row the user's bought items have as co-purchase neighbours (the
  sparse gather, ``NeighbourTable.sparse_scores``), the ``pool`` rows of highest trend, and with
  a repeat weight the user's own source items (the repeat term is not z-scaled: its values at
  the pool's rows, fulcrum/core/repeat_term.py).

Each pool row gets the SAME score the exact path gives it: the cosine, and the hybrid score
with the z-scaling of the whole catalogue (cosine mean and std from ``Moments`` in O(D^2); the
neighbour vector's mean and std from its non-zero entries, the rest of the catalogue being 0).
What changes is only which rows are considered: a row outside the pool (not among the nearest by
cosine, no co-purchase neighbour of the user's items, not among the top trend) is not retrieved,
even where its hybrid score would have made the top. That is what recall@100 vs exact measures
(docs/scaling.md). Nothing here is O(catalogue): the work is O(pool + neighbours + D^2).

Search (``pool_dense``): the query's ``depth`` (or ``pool``, if larger) nearest rows in Search's
index get their exact cosine; every other row gets a value just below the pool's lowest cosine.
The fusion (fulcrum/core/search/fusion.py) takes its dense list, the top ``depth``, from the
pool rows only (no pass over the catalogue), so with a perfect index the dense list is the exact
one; a lexical match outside the pool is scored
with that floor instead of its own (lower) cosine -- under the weighted fusion it can only gain
a little, never overtake a pool row on the dense part.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fulcrum.core.blocked_rows import Blocked, blocked_count
from fulcrum.core.hybrid import hybrid_weights_parts
from fulcrum.core.repeat_term import own_values_at
from fulcrum.core.search.sparse_scores import SparseScores

if TYPE_CHECKING:
    from fulcrum.core.bundle.ann import LockedIndex
    from fulcrum.core.bundle.catalogue import Catalogue

#: an index search deeper than catalogue / this is not worth it: exact scoring instead
MAX_DEPTH_SHARE = 8


def nearest_allowed(
    index: LockedIndex,
    vector: np.ndarray,
    want: int,
    size: int,
    ef_search: int,
    blocked: Blocked | None,
) -> np.ndarray | None:
    """Rows of the index's nearest vectors, at least ``want`` of them not blocked (or every row
    the index has), best first, blocked ones dropped: the search deepens x4 while blocked rows
    eat the list. None when it would have to search deeper than ``size / MAX_DEPTH_SHARE`` (a
    filter that blocks most of the catalogue): the caller scores exactly instead."""
    k = min(size, want if blocked is None else want + min(blocked_count(blocked), want))
    while True:
        found = index.search(vector, k, ef_search)
        found = found[found < size]
        if blocked is not None:
            found = found[~blocked[found]]
        if len(found) >= want or k >= size:
            return found
        k *= 4
        if k > size // MAX_DEPTH_SHARE:
            return None


def pool_candidates(
    cat: Catalogue, user_vec: np.ndarray, n: int, blocked: Blocked | None, bought_rows: np.ndarray,
    own: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(candidate rows best first, their cosine, their retrieval score): the ``n`` best
    non-blocked rows of the pool, ties by lower row. None: the blocked rows leave too few
    candidates near the user (the caller scores the whole catalogue)."""
    parts = cat.ann
    if parts is None:
        raise ValueError("pool_candidates needs a catalogue with ANN parts")
    size = len(cat)
    s = parts.settings
    found = nearest_allowed(parts.recommend, user_vec, max(s.pool, n), size, s.ef_search, blocked)
    if found is None:
        return None
    pieces = [found, parts.stale[parts.stale < size]]
    w = cat.hybrid
    nb_rows = nb_vals = None
    if w.active and w.neighbour > 0 and cat.neighbours is not None:
        nb_rows, nb_vals = cat.neighbours.sparse_scores(bought_rows, size)
        pieces.append(nb_rows)
    if w.active and w.trend > 0 and parts.trend_top is not None:
        pieces.append(parts.trend_top[parts.trend_top < size])
    src = np.asarray(bought_rows if own is None else own[0], dtype=np.int64)
    src = np.unique(src[(src >= 0) & (src < size)])
    if w.active and w.repeat > 0:  # the user's own items get the repeat bonus: always candidates
        pieces.append(src)
    pool = np.unique(np.concatenate(pieces))
    if blocked is not None:
        pool = pool[~blocked[pool]]
    if len(pool) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, np.zeros(0), np.zeros(0)
    cosine = (cat.embeddings[pool] @ np.asarray(user_vec, dtype=np.float32)).astype(np.float64)
    if not w.active:
        score = cosine
    else:
        mean, sd = parts.moments.cosine_stats(user_vec)
        neighbour = None
        if nb_rows is not None and nb_vals is not None:
            neighbour = np.zeros(len(pool))
            if len(nb_rows):
                at = np.searchsorted(nb_rows, pool)
                hit = (at < len(nb_rows)) & (nb_rows[np.minimum(at, len(nb_rows) - 1)] == pool)
                neighbour[hit] = nb_vals[at[hit]]
            nb_stats = _sparse_stats(nb_vals, size)
        else:
            nb_stats = (0.0, 0.0)
        trend = None
        if cat.trend is not None:
            trend = np.full(len(pool), cat.trend_pad)
            inside = pool < len(cat.trend)
            trend[inside] = cat.trend[pool[inside]]
        repeat = None
        if w.repeat > 0 and own is not None:  # the graded (or indicator) values at the pool's rows
            repeat = own_values_at(own, pool)
        elif w.repeat > 0:
            if w.repeat_shape.graded:
                raise ValueError("a graded repeat term needs the user's own rows and values")
            repeat = np.isin(pool, src).astype(np.float64)
        score = hybrid_weights_parts(cosine, (mean, sd), neighbour, nb_stats, trend, w, repeat)
    keep = np.lexsort((pool, -score))[:n]
    return pool[keep], cosine[keep], score[keep]


def _sparse_stats(values: np.ndarray, n: int) -> tuple[float, float]:
    """(mean, population std) of an [n] vector whose only non-zero entries are ``values``."""
    if n <= 0:
        return 0.0, 0.0
    v = np.asarray(values, dtype=np.float64)
    mean = float(v.sum()) / n
    second = float((v * v).sum()) / n
    return mean, float(np.sqrt(max(second - mean * mean, 0.0)))


def pool_dense(
    cat: Catalogue, query_vec: np.ndarray, depth: int, blocked: Blocked | None
) -> tuple[SparseScores, np.ndarray] | None:
    """([N] dense scores, pool rows) for Search: exact cosines on the query's ANN pool (at least
    ``depth`` non-blocked rows), a floor just below the pool's lowest elsewhere (as
    ``SparseScores``: no [N] array); the fusion takes its dense list from the pool rows. None: a
    filter blocks too much of the catalogue near the query (the caller scores exactly)."""
    parts = cat.ann
    if parts is None:
        raise ValueError("pool_dense needs a catalogue with ANN parts")
    size = len(cat)
    s = parts.settings
    vectors = cat.search_embeddings
    q = np.asarray(query_vec, dtype=vectors.dtype)
    found = nearest_allowed(parts.search_index(), q, max(depth, s.pool), size, s.ef_search, blocked)
    if found is None:
        return None
    stale = parts.stale_search
    rows = np.unique(np.concatenate([found, stale[stale < size]]))
    cosine = vectors[rows] @ q
    floor = np.nextafter(cosine.min(), vectors.dtype.type(-np.inf)) if len(rows) else vectors.dtype.type(-1.0)
    return SparseScores(rows, cosine, size, floor), rows
