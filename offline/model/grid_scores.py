"""One towers state's hybrid parts on a validation slice, prepared once, scored for any grid points.

The hybrid grid on a slice (offline/model/hybrid_fit.py ``slice_evaluator``) costs two things:
per user, the parts of the score -- the user tower's cosine over the catalogue, standardised, the
neighbour sum, the trend row, the repeat term -- and a shortlist that provably holds every grid
point's top k (offline/model/grid_topk.py); then per grid point, one weighted sum and a partial
sort over the shortlist. The first part does not depend on the weights. ``SliceShortlists``
does it once and keeps, per user, only the shortlist and the parts at it (a few hundred to a few
thousand numbers), so a search that asks for its points in several passes (a coarse grid, a
fine box, one line per edge extension: offline/model/grid_search.py) pays it once, not per pass.

The shortlist is taken with the user's OWN items (the repeat term's support: the same items for
every repeat shape) among its special items, so one shortlist serves every point and every
shape: a superset of special items never loses a top k (grid_topk.py's argument). It is then cut
to its skyband (``grid_topk.skyband``): an item that k others beat in the cosine and match or
beat in the neighbour score, the trend and the repeat value of EVERY prepared shape can be in no
top k at any weights; on the Taobao sample's validation slice that leaves about a tenth of the
shortlist. So the repeat shapes the points may use are named when the parts are prepared, and a
point with another shape is refused.

Users with fewer allowed items than k keep their full rows and are ranked as before (``rank``
pads). Memory: the shortlists of at most ``retrieval.validation_max_users`` users, three float64
numbers per shortlisted item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fulcrum.core.hybrid import HybridWeights, NeighbourTable, repeat_indicator, standardise
from fulcrum.core.repeat_term import INDICATOR, RepeatShape
from offline.model.grid_topk import grid_topk, shortlist, shortlist_topk, skyband
from offline.model.repeat_grid import own_vector
from offline.model.trend_prior import TrendAt

_K = 10


@dataclass
class _Short:
    row: int  # the user's row in the slice
    cand: np.ndarray
    x: np.ndarray  # the parts at cand: standardised cosine, neighbour, trend
    y: np.ndarray
    t: np.ndarray
    plain: np.ndarray  # [k] the towers alone (raw cosine order over the allowed items)
    own: dict[RepeatShape, np.ndarray] = field(default_factory=dict)  # repeat values at cand, per shape


@dataclass
class _Full:
    row: int
    cosine: np.ndarray
    x: np.ndarray
    y: np.ndarray
    t: np.ndarray


class SliceShortlists:
    """The prepared parts (module doc) of one towers state on a ``DiscoverySlice``."""

    def __init__(self, sl, item_vecs: np.ndarray, encode_users, table: NeighbourTable,
                 trend: np.ndarray | TrendAt, shapes: Sequence[RepeatShape] = (), k: int = _K) -> None:
        """``shapes``: the repeat shapes the points scored later may use with a repeat weight."""
        from offline.model.hybrid_fit import bought_scores

        self.sl, self.k, self.n = sl, k, len(sl.seen)
        self.shapes = tuple(dict.fromkeys(shapes))
        self.users: list[_Short | _Full] = []
        n = self.n
        excluded = sl.bought if sl.excluded is None else sl.excluded
        neighbour = bought_scores(table, np.zeros(n), HybridWeights(neighbour=1.0))  # -> z(neighbour)
        flat = np.zeros(n)
        for rows in sl.chunks():
            cosine = sl.cosine(item_vecs, encode_users, rows)
            z_cos = np.stack([standardise(row) for row in cosine])
            z_nb = neighbour(np.zeros_like(z_cos), sl.bought[rows])
            if isinstance(trend, TrendAt):
                trends = trend.rows(sl.at[rows])
            else:
                trends = np.broadcast_to(np.asarray(trend, dtype=np.float64), z_cos.shape)
            for j, ex in enumerate(excluded[rows]):
                u = rows.start + j
                allowed = sl.seen.copy()
                allowed[sorted(ex)] = False
                if allowed.sum() < k:  # fewer candidates than slots: the full ranking, as rank() pads
                    self.users.append(_Full(u, cosine[j].copy(), z_cos[j].copy(), z_nb[j].copy(),
                                            np.array(trends[j], dtype=np.float64)))
                    continue
                support = np.zeros(n)
                support[self._own_items(u)] = 1.0
                cand = shortlist(z_cos[j], z_nb[j], trends[j], allowed, k, support)
                plain = grid_topk(cosine[j], flat, flat, allowed, [(0.0, 0.0)], k)[0]
                xc, yc, tc = z_cos[j][cand], z_nb[j][cand], np.array(trends[j][cand], dtype=np.float64)
                own = {shape: self._own(u, shape)[cand] for shape in self.shapes}
                keep = skyband(xc, yc, tc, k, np.stack(list(own.values())) if own else None)
                self.users.append(_Short(u, cand[keep], xc[keep], yc[keep], tc[keep], plain,
                                         {shape: r[keep] for shape, r in own.items()}))

    def _own_items(self, u: int) -> np.ndarray:
        """The rows of user ``u``'s own items (the repeat term's support, the same for every shape)."""
        own = self._own(u, INDICATOR)
        return np.flatnonzero(own)

    def _own(self, u: int, shape: RepeatShape) -> np.ndarray:
        """[n] the repeat term of user ``u`` under ``shape``, as serving computes it."""
        sl = self.sl
        if sl.profiles is not None:  # serving's repeat term of the user's profile
            return own_vector(sl.profiles[u], shape, self.n)
        if shape.graded:
            raise ValueError("a graded repeat term needs the slice's profiles")
        return repeat_indicator(sorted(sl.bought[u]), self.n)

    def _own_at(self, user: _Short, shape: RepeatShape) -> np.ndarray:
        if shape not in user.own:
            raise ValueError(f"repeat shape {shape} was not prepared (prepared: {self.shapes}): the "
                             "shortlists were cut for those")
        return user.own[shape]

    def evaluate(self, points: Sequence[HybridWeights]) -> dict[HybridWeights, dict[str, float]]:
        """Each point's metrics on the slice: the same numbers as ranking every allowed item."""
        sl, k = self.sl, self.k
        points = list(dict.fromkeys(points))
        if not sl.warm:
            return {w: sl.metrics(np.zeros((0, k), dtype=np.int64)) for w in points}
        ranked: dict[HybridWeights, list[np.ndarray]] = {w: [] for w in points}
        # one top-k pass per repeat shape (the points without a repeat weight go with the first)
        by_shape: dict[RepeatShape, list[HybridWeights]] = {}
        for w in points:
            if w.active:
                by_shape.setdefault(w.repeat_shape if w.repeat > 0 else INDICATOR, []).append(w)
        for user in self.users:
            if isinstance(user, _Full):
                one = slice(user.row, user.row + 1)
                for w in points:
                    score = user.cosine.copy() if not w.active else (user.x + w.neighbour * user.y
                                                                     + w.trend * user.t)
                    if w.repeat > 0:
                        score = score + w.repeat * self._own(user.row, w.repeat_shape)
                    ranked[w].append(sl.rank(score[None, :], one, k))
                continue
            for w in points:
                if not w.active:
                    ranked[w].append(user.plain[None, :])
            for shape, group in by_shape.items():
                pairs = [(w.neighbour, w.trend, w.repeat) for w in group]
                rc = self._own_at(user, shape) if any(w.repeat > 0 for w in group) else None
                tops = shortlist_topk(user.cand, user.x, user.y, user.t, pairs, k, rc)
                for w, top in zip(group, tops, strict=True):
                    ranked[w].append(top[None, :])
        return {w: sl.metrics(np.concatenate(ranked[w])) for w in points}
