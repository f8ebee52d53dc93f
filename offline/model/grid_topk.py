"""The top k of every hybrid grid point for one user, without ranking the whole catalogue per point.

A grid point's score is ``x + a * y + b * t`` (x: the standardised cosine, y: the standardised
neighbour score, t: the trend prior; a, b >= 0). On most shops most items have no neighbour
score and no recent buyer, so y and t sit at their row minimum for them: among those items every
grid point orders by x alone. The top k of a grid point therefore lies in

    C = {allowed items with y > min y or t > min t}  U  {the k best allowed items by x among the rest}

and ranking C per point gives the same top k as ranking every allowed item (ties aside, which
a full argpartition breaks arbitrarily too). On the Taobao sample (55k items, a few hundred with
a recent buyer) C holds a few hundred items instead of 36k; on a shop where every item trends,
C is the pool and nothing is lost but the pruning.

With the repeat term (``+ c * r``, r: 1 at the user's own source items, c >= 0) the items with
r > min r join the special set the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def shortlist(x: np.ndarray, y: np.ndarray, t: np.ndarray, allowed: np.ndarray, k: int,
              r: np.ndarray | None = None) -> np.ndarray:
    """Item indices C (see the module doc) for one row; all allowed items when fewer than k."""
    idx = np.flatnonzero(allowed)
    if len(idx) <= k:
        return idx
    ya, ta = y[idx], t[idx]
    special = (ya > ya.min()) | (ta > ta.min())
    if r is not None:
        ra = r[idx]
        special |= ra > ra.min()
    rest = idx[~special]
    if len(rest) > k:
        rest = rest[np.argpartition(-x[rest], k - 1)[:k]]
    return np.concatenate([idx[special], rest])


def grid_topk(x: np.ndarray, y: np.ndarray, t: np.ndarray, allowed: np.ndarray,
              weights: Sequence[tuple[float, ...]], k: int, r: np.ndarray | None = None) -> list[np.ndarray]:
    """[k] item indices, best first, of ``x + a * y + b * t (+ c * r)`` over the allowed items
    for each (a, b) or (a, b, c) in ``weights`` (all >= 0; c needs ``r``); fewer when fewer
    items are allowed."""
    cand = shortlist(x, y, t, allowed, k, r)
    return shortlist_topk(cand, x[cand], y[cand], t[cand], weights, k, None if r is None else r[cand])


def skyband(xc: np.ndarray, yc: np.ndarray, tc: np.ndarray, k: int,
            rc: np.ndarray | None = None, block: int = 512) -> np.ndarray:
    """[len(xc)] bool: a set of items that holds the top k of ``x + a y + b t (+ c r)`` for EVERY
    weights a, b, c >= 0 (``rc``: [n] or [shapes, n], every shape's r). An item is out when at
    least k others beat it everywhere: a larger x and at least its y, t (and r under every
    shape). For any such weights those k score strictly higher (x always has weight 1), so it
    never makes a top k -- no tie is involved. The beaters are looked for among the items that
    lead some weighting (the best 2k by x, and by x plus each part at a few weights): every
    item found out is out; an item that only others would beat stays (it costs a little time,
    never a result), and the pairwise count stays [n, a few hundred] instead of [n, n]."""
    n = len(xc)
    keep = np.ones(n, dtype=bool)
    if n <= k:
        return keep
    parts = [yc, tc] + ([] if rc is None else list(np.atleast_2d(rc)))
    m = min(n, 2 * k)
    leads = [xc] + [xc + c * p for p in parts for c in (0.5, 2.0, 8.0)] + [xc + sum(parts)]
    lead = np.unique(np.concatenate([np.argpartition(-s, m - 1)[:m] for s in leads]))
    for s in range(0, n, block):
        rows = slice(s, min(n, s + block))
        beats = xc[None, lead] > xc[rows, None]  # [rows, leaders]: a larger x than item i
        for p in parts:
            beats &= p[None, lead] >= p[rows, None]
        keep[rows] = beats.sum(axis=1) < k
    return keep


def shortlist_topk(cand: np.ndarray, xc: np.ndarray, yc: np.ndarray, tc: np.ndarray,
                   weights: Sequence[tuple[float, ...]], k: int,
                   rc: np.ndarray | None = None) -> list[np.ndarray]:
    """``grid_topk`` on a shortlist already taken: ``cand`` (item indices) and the parts at them
    (``xc = x[cand]`` ...), so that a slice's shortlists are built once and scored for any grid
    points later (offline/model/grid_scores.py). The shortlist must hold every item whose repeat
    value can be above its row minimum (``shortlist`` with that ``r``, or a superset)."""
    pts = np.array([(*p, 0.0) if len(p) == 2 else tuple(p) for p in weights], dtype=np.float64).reshape(-1, 3)
    if (pts < 0).any():
        raise ValueError(f"grid_topk: weights must be >= 0, got {[tuple(p) for p in weights]}")
    if (pts[:, 2] > 0).any() and rc is None:
        raise ValueError("grid_topk: a repeat weight needs the repeat vector r")
    m = min(k, len(cand))
    if len(pts) == 0 or m == 0:
        return [cand[:0] for _ in range(len(pts))]
    # every point at once: [points, shortlist] scores, the same additions in the same order as
    # one point at a time (x + a y + b t, then + c r where c > 0), one partial sort per row
    s = xc[None, :] + pts[:, :1] * yc[None, :] + pts[:, 1:2] * tc[None, :]
    if rc is not None and (pts[:, 2] > 0).any():
        s = np.where(pts[:, 2:] > 0, s + pts[:, 2:] * rc[None, :], s)
    top = np.argpartition(-s, m - 1, axis=1)[:, :m] if m < len(cand) else np.broadcast_to(
        np.arange(len(cand)), s.shape)
    top_s = np.take_along_axis(s, top, axis=1)
    order = np.argsort(-top_s, axis=1, kind="stable")
    return list(cand[np.take_along_axis(top, order, axis=1)])
