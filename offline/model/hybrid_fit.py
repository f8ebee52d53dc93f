"""The hybrid retrieval score's offline parts (fulcrum/core/hybrid.py has the score itself).

- ``neighbour_table``: item-item neighbours of purchases, or of every positive behaviour under
  the interactions neighbour source (fulcrum/core/neighbour_source.py), stored by source item
  for serving's sparse gather; built by the run's neighbour model (cosine item-kNN, RP3beta or
  EASE: offline/model/item_graph.py, chosen on validation by offline/model/neighbour_choice.py);
- the trend prior (offline/model/trend_prior.py): what is selling now, as of a cut;
- ``choose_weights``: a grid over (neighbour_weight, trend_weight[, repeat_weight x repeat
  shape under the interactions protocol: offline/model/repeat_grid.py]) scored on the VALIDATION
  slice with the model fitted before it (never the test split); ties go to the smaller weights;
  the search itself (a coarse-then-fine grid per epoch, the full grid for the final weights, an
  axis extended while its top is best) is offline/model/grid_search.py.

Why a hybrid: the two towers learn from text and sequences and are corrected for popularity
(logQ), which keeps the tail alive but under-uses two strong, cheap signals -- direct co-purchase
overlap with what the user bought, and what is trending at the cut. Each part is exported with
the bundle and the weights are in its manifest, so serving computes exactly the same score.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import sparse

from fulcrum.core.hybrid import HybridWeights, NeighbourTable, hybrid_scores, repeat_indicator
from fulcrum.core.neighbour_source import INTERACTIONS, PURCHASES, check_source
from fulcrum.core.repeat_term import INDICATOR, RepeatShape
from offline.model.grid_search import GridAxes, SearchResult, search
from offline.model.item_graph import NeighbourModel
from offline.model.repeat_grid import own_vector, repeat_shapes
from offline.model.trend_prior import TrendAt, trend_prior, trend_source

log = logging.getLogger(__name__)


def neighbour_table(
    users: np.ndarray, items: np.ndarray, n_users: int, n_items: int, n_neighbours: int,
    model: NeighbourModel | None = None,
) -> NeighbourTable:
    """Neighbour rows by source item from (user, item) pairs -- purchases, or positive behaviours
    under the interactions source (duplicates count once) -- built by ``model``
    (offline/model/item_graph.py; None: cosine with ``n_neighbours``, the item-kNN table)."""
    from offline.model.item_graph import COSINE, binary_matrix, item_weights

    model = model or NeighbourModel(COSINE, {"neighbours": int(n_neighbours)})
    by_source = item_weights(binary_matrix(users, items, n_users, n_items), model)
    by_source.sort_indices()
    return NeighbourTable(
        by_source.indptr.astype(np.int64),
        by_source.indices.astype(np.int64),
        by_source.data.astype(np.float32),
    )


def hybrid_parts(
    users: np.ndarray,
    items: np.ndarray,
    times: np.ndarray,
    at: float,
    n_items: int,
    neighbours: int,
    trend_days: float,
    table_events: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    model: NeighbourModel | None = None,
) -> tuple[NeighbourTable, np.ndarray, float]:
    """(neighbour table, trend prior, trend of an item without buyers) from the (user, item, time)
    purchases strictly before ``at``: the parts as of one cut, for training, validation and the
    promotion judge alike. ``table_events`` ((user, item, time) of the neighbour source's events:
    every positive behaviour under the interactions source, fulcrum/core/neighbour_source.py)
    builds the table instead of the purchases; the trend is always the purchases'. ``model``: the
    run's neighbour model (None: cosine with ``neighbours``)."""
    keep = np.asarray(times) < at
    u, i, t = np.asarray(users)[keep], np.asarray(items)[keep], np.asarray(times)[keep]
    tu, ti = u, i
    if table_events is not None:
        ku = np.asarray(table_events[2]) < at
        tu, ti = np.asarray(table_events[0])[ku], np.asarray(table_events[1])[ku]
    n_users = int(tu.max()) + 1 if len(tu) else 1
    table = neighbour_table(tu, ti, n_users, n_items, neighbours, model)
    trend, zero = trend_prior(u, i, t, at, trend_days, n_items)
    return table, trend, zero


def bought_scores(
    table: NeighbourTable, trend: np.ndarray | TrendAt, weights: HybridWeights
) -> Callable[..., np.ndarray]:
    """``adjust(cosine [B, N], bought item rows per user[, cut of each row [B][, profiles]]) ->
    hybrid [B, N]`` for the evaluations (the neighbour sums as one sparse product per batch; the
    same numbers as ``NeighbourTable.scores`` row by row, which serving uses). ``trend`` is one
    vector, or a ``TrendAt`` evaluated at each row's cut; ``profiles`` (each row's slice profile)
    give the repeat term its graded values (``own_vector``), else it is the indicator of the
    bought rows."""
    n_src = table.n_sources

    def adjust(
        scores: np.ndarray, bought: Sequence[set[int]], at_rows: np.ndarray | None = None,
        profiles: Sequence | None = None,
    ) -> np.ndarray:
        n = scores.shape[1]
        neighbour = None
        if weights.neighbour > 0:
            m = sparse.csr_matrix((table.data, table.indices, table.indptr), shape=(n_src, n))
            rows = np.repeat(np.arange(len(bought)), [len(b) for b in bought])
            cols = np.fromiter((i for b in bought for i in sorted(b)), dtype=np.int64, count=len(rows))
            keep = cols < n_src
            b = sparse.csr_matrix(
                (np.ones(int(keep.sum())), (rows[keep], cols[keep])), shape=(len(bought), n_src)
            )
            neighbour = (b @ m).toarray()
        if isinstance(trend, TrendAt):
            if at_rows is None:
                raise ValueError("a per-cut trend prior needs the cut of each row")
            trends = trend.rows(at_rows) if weights.trend > 0 else [None] * len(scores)
        else:
            trends = [trend] * len(scores)
        out = np.empty(scores.shape, dtype=np.float64)
        for r in range(len(scores)):
            repeat = None
            if weights.repeat > 0 and profiles is not None:
                repeat = own_vector(profiles[r], weights.repeat_shape, n)
            elif weights.repeat > 0:
                if weights.repeat_shape.graded:
                    raise ValueError("a graded repeat term needs each row's profile")
                repeat = repeat_indicator(sorted(bought[r]), n)
            out[r] = hybrid_scores(
                scores[r], None if neighbour is None else neighbour[r], trends[r], weights, repeat
            )
        return out

    return adjust


def choose_weights(
    evaluate: Callable[[HybridWeights], dict[str, float]],
    neighbour_grid: Sequence[float],
    trend_grid: Sequence[float],
    metric: str = "ndcg@10",
    repeat_grid: Sequence[float] = (0.0,),
    source: str = PURCHASES,
    shapes: Sequence[RepeatShape] = (INDICATOR,),
    max_doublings: int = 0,
) -> tuple[HybridWeights, list[dict[str, Any]]]:
    """The grid point with the best ``metric`` (ties: the earlier point, i.e. smaller weights),
    one point at a time; ``max_doublings`` > 0 extends an axis whose top is best
    (offline/model/grid_search.py). ``repeat_grid`` other than (0,) needs the interactions
    ``source`` (HybridWeights says so); ``shapes``: the repeat term's shapes searched with each
    repeat weight > 0."""
    axes = GridAxes(tuple(neighbour_grid), tuple(trend_grid), tuple(repeat_grid), tuple(shapes))
    found = search(lambda pts: [evaluate(w) for w in pts], axes, source, metric, 1, max_doublings)
    return found.best, found.points


class HybridValidation:
    """The validation slice and the hybrid's parts as of its cut, built once per run; scores any
    state of the towers by the serving score (the hybrid at its best grid point): per epoch, to
    keep the epoch that serves best, and once more to choose the weights.

    ``fit_purchases`` masks the train events the model is fitted on (purchases before each user's
    validation cut); ``val_cut`` is that cut ([U], or one time). The neighbours and the trend come
    from the fitted events only (no look-ahead), never the test split.
    """

    def __init__(self, cfg, inter, fit_purchases, val_cut, val_pairs, sl=None, fit_sources=None,
                 source: str = PURCHASES, model: NeighbourModel | None = None) -> None:
        """``sl``: the run's validation slice (offline.model.holdout.DiscoverySlice, built under
        its protocol); None builds one under the purchase protocol. ``fit_sources``: the fitted
        events the neighbour table is built from (the neighbour source's events,
        ``RunData.neighbour_events``); None: ``fit_purchases``. ``source``: the neighbour source
        (``RunData.neighbour_source``); the repeat weight is searched (``hybrid.repeat_grid``)
        only under interactions, the repeat-allowed protocol, else it stays 0. ``model``: the
        run's neighbour model (``offline.model.neighbour_choice``; None: cosine)."""
        from offline.model.holdout import DiscoverySlice

        h = cfg.retrieval.hybrid
        if len(val_pairs[0]) == 0:
            raise _no_validation("the validation slice holds no purchase")
        users, items, times = (a[fit_purchases] for a in (inter.ev_user, inter.ev_item, inter.ev_time))
        src = fit_purchases if fit_sources is None else fit_sources
        self.table = neighbour_table(
            inter.ev_user[src], inter.ev_item[src], len(inter.user_ids), inter.n_items, h.neighbours, model
        )
        self.trend = trend_source(inter, users, items, times, h.trend_days)
        self.slice = sl if sl is not None else DiscoverySlice.build(
            inter, val_cut, val_pairs, cfg.user.history_len, cfg.retrieval.validation_max_users, cfg.seed
        )
        if not self.slice.warm:
            raise _no_validation(
                "no validation user bought an item new to them after a purchase before the slice"
            )
        self.source = check_source(source)
        graded = source == INTERACTIONS and self.slice.profiles is not None
        repeat = h.repeat_grid if source == INTERACTIONS else (0.0,)
        shapes = repeat_shapes(h) if graded else (INDICATOR,)
        self.axes = GridAxes(h.neighbour_grid, h.trend_grid, repeat, shapes)
        self.epoch_stride, self.max_doublings = h.epoch_grid_stride, h.grid_extensions

    def search(self, item_vecs: np.ndarray, encode_users, stride: int = 1) -> SearchResult:
        """The weights' search (offline/model/grid_search.py) for these towers: the grid (coarse
        then fine when ``stride`` > 1), extended at an edge where its best sits."""
        from offline.model.grid_scores import SliceShortlists

        # the parts and shortlists once, every stage of the search scored from them
        prepared = SliceShortlists(self.slice, item_vecs, encode_users, self.table, self.trend,
                                   self.axes.shapes)

        def evaluate_many(points: Sequence[HybridWeights]) -> list[dict[str, float]]:
            scored = prepared.evaluate(points)
            return [scored[w] for w in points]

        return search(evaluate_many, self.axes, self.source, "ndcg@10", stride, self.max_doublings)

    def grid(self, item_vecs: np.ndarray, encode_users) -> tuple[HybridWeights, list[dict[str, Any]]]:
        """(best weights, every evaluated point's metrics) for these towers: the FULL grid, extended
        at its edges -- the final choice of the weights."""
        found = self.search(item_vecs, encode_users)
        for note in found.notes:
            log.info("hybrid grid: %s", note)
        return found.best, found.points

    def epoch_metrics(self, item_vecs: np.ndarray, encode_users) -> dict[str, float]:
        """The best searched point's metrics (``ndcg@10`` = the serving score's), its weights, and
        the towers alone's NDCG@10 (``towers_ndcg@10``, the weights (0, 0) point). Per epoch the
        grid is coarse then fine (``retrieval.hybrid.epoch_grid_stride``; it only keeps an epoch,
        the final weights come from ``grid``)."""
        found = self.search(item_vecs, encode_users, self.epoch_stride)
        for note in found.notes:
            log.info("epoch hybrid grid: %s", note)
        points = found.points
        best = max(points, key=lambda p: p["ndcg@10"])
        towers = next(
            p for p in points if p["neighbour_weight"] == p["trend_weight"] == p.get("repeat_weight", 0) == 0
        )
        return {**best, **{f"towers_{k}": v for k, v in towers.items() if k.endswith("@10")}}


def choose_on_validation(cfg, inter, table, encode_users, fit_purchases, val_cut, val_pairs,
                         validation: HybridValidation | None = None, sl=None, fit_sources=None,
                         source: str = PURCHASES, model: NeighbourModel | None = None):
    """(weights, validation grid) of the hybrid score for ``fulcrum train``; (None, []) when the
    config disables it. ``validation`` reuses a run's HybridValidation (else one is built from
    the other arguments, see there)."""
    import torch

    h = cfg.retrieval.hybrid
    if not h.enabled:
        return None, []
    if cfg.retrieval.validation_days <= 0:  # validation switched off: the configured weights
        return HybridWeights(h.default_neighbour_weight, h.default_trend_weight), []
    if validation is None:
        validation = HybridValidation(cfg, inter, fit_purchases, val_cut, val_pairs, sl, fit_sources, source,
                                      model)
    with torch.no_grad():
        vecs = table().numpy()
    weights, grid = validation.grid(vecs, encode_users)
    log.info(
        "hybrid score: neighbour_weight %.2f, trend_weight %.2f, repeat_weight %.2f chosen on "
        "validation (%d grid points)",
        weights.neighbour,
        weights.trend,
        weights.repeat,
        len(grid),
    )
    return weights, grid


def slice_evaluator(sl, item_vecs: np.ndarray, encode_users, table: NeighbourTable,
                    trend: np.ndarray | TrendAt, points: Sequence[HybridWeights]
                    ) -> Callable[[HybridWeights], dict[str, float]]:
    """``evaluate(weights) -> metrics`` of the hybrid score for each of ``points`` on one
    prepared discovery slice (offline.model.holdout.DiscoverySlice): the user tower runs once
    per chunk of users and the standardised parts and each user's shortlist are computed once
    (``offline.model.grid_scores.SliceShortlists``), then every grid point is one weighted sum
    and a top-k over a shortlist that provably holds it (``offline.model.grid_topk``): the same
    numbers as ``bought_scores`` + ``discovery_eval`` point by point, at a fraction of the cost."""
    from offline.model.grid_scores import SliceShortlists

    shapes = [w.repeat_shape for w in points if w.repeat > 0]
    scored = SliceShortlists(sl, item_vecs, encode_users, table, trend, shapes).evaluate(points)
    return scored.__getitem__


def memoised_encoder(encode_users: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """``encode_users`` that encodes each distinct batch once: every grid point scores the same
    validation users with the same model, so the user tower runs once per batch, not once per
    grid point (49 by default)."""
    memo: dict[bytes, np.ndarray] = {}

    def encode(*arrays: np.ndarray) -> np.ndarray:
        h = hashlib.blake2b(digest_size=16)
        for a in arrays:
            a = np.ascontiguousarray(a)
            h.update(str((a.dtype, a.shape)).encode())
            h.update(a.tobytes())
        key = h.digest()
        if key not in memo:
            memo[key] = encode_users(*arrays)
        return memo[key]

    return encode


def _no_validation(cause: str):
    from offline.stage_error import StageError

    return StageError(
        "hybrid weights",
        f"{cause}, so the weights cannot be chosen on validation",
        "use a split with more history per user, or set retrieval.validation_days: 0 (the configured "
        "default weights, no validation) or retrieval.hybrid.enabled: false",
    )
