"""Which item-item model builds the hybrid's neighbour table, chosen on the VALIDATION slice.

The candidates (``retrieval.hybrid.neighbour_models`` and their small grids in
offline/train_config.py; the models in ``offline.model.item_graph``) are each built from the
fitted events only (before every user's validation cut, the neighbour source's events) and
scored on the run's validation slice as ``neighbours + trend``: ``z(neighbour) + t * trend``, the
best ``t`` of ``TREND_RATIOS`` (the towers' term left out). Why not the full serving score: the
table is needed before the towers are trained (each epoch is kept or not by the serving score on
validation), and this is the serving score's towers-free part; on Online Retail's validation the
two orders agreed on the best model (``docs/training.md``). Ties go to the earlier candidate:
cosine first, so a shop where nothing beats it keeps what it had.

EASE inverts a dense items x items matrix; above ``retrieval.hybrid.ease_max_items`` it is not
built, a warning says why and the record lists it under ``skipped``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any

import numpy as np

from offline.model.item_graph import COSINE, EASE, RP3BETA, NeighbourModel

log = logging.getLogger(__name__)

#: trend weights per unit of neighbour weight tried for each candidate (the hybrid's validation
#: picked 3-7 trend per neighbour on Online Retail, so the grid reaches past that)
TREND_RATIOS = (0.0, 0.3, 1.0, 2.0, 3.0, 5.0, 10.0)
METRIC = "ndcg@10"


@dataclass(frozen=True)
class NeighbourChoice:
    model: NeighbourModel
    chosen_on: str
    #: each candidate's validation score: {"model", its params, "ndcg@10", "trend_ratio", "build_s"}
    points: list[dict[str, Any]] = field(default_factory=list)
    #: candidates not built, with the reason
    skipped: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """The run.json / manifest ``hybrid.neighbour_model`` block."""
        return {**self.model.record(), "chosen_on": self.chosen_on, "validation": self.points,
                "skipped": self.skipped}


def candidates(h, n_items: int) -> tuple[list[NeighbourModel], list[str]]:
    """(models to try, in order, and the reasons of those skipped) from the hybrid config ``h``."""
    out: list[NeighbourModel] = []
    skipped: list[str] = []
    k = int(h.neighbours)
    for kind in h.neighbour_models:
        if kind == COSINE:
            out.append(NeighbourModel(COSINE, {"neighbours": k}))
        elif kind == RP3BETA:
            out += [NeighbourModel(RP3BETA, {"alpha": float(a), "beta": float(b), "topk": k})
                    for a, b in product(h.rp3beta_alpha, h.rp3beta_beta)]
        elif kind == EASE:
            if n_items > h.ease_max_items:
                gb = 3 * 8 * n_items**2 / 1e9
                reason = (f"ease: {n_items:,} items > retrieval.hybrid.ease_max_items {h.ease_max_items:,} "
                          f"(EASE inverts a dense items x items matrix, ~{gb:,.1f} GB here)")
                log.warning("neighbour model %s; not tried", reason)
                skipped.append(reason)
                continue
            out += [NeighbourModel(EASE, {"lambda": float(lam), "topk": k}) for lam in h.ease_lambda]
    return out, skipped


def choose(evaluate: Callable[[NeighbourModel], dict[str, float]], models: Sequence[NeighbourModel]
           ) -> tuple[NeighbourModel, list[dict[str, Any]]]:
    """The model with the best ``METRIC`` (ties: the earlier one) and every model's scores."""
    if not models:
        raise ValueError("neighbour models: nothing to choose from")
    best, best_score, points = models[0], -np.inf, []
    for m in models:
        scores = evaluate(m)
        points.append({**m.record(), **scores})
        if scores[METRIC] > best_score + 1e-12:
            best, best_score = m, scores[METRIC]
    return best, points


def choose_neighbour_model(cfg, inter, fit_sources: np.ndarray, fit_purchases: np.ndarray, sl
                           ) -> NeighbourChoice:
    """The run's neighbour model: chosen on the validation slice ``sl`` (see the module
    docstring); without validation (``sl`` None) or with one candidate, the first candidate."""
    from fulcrum.core.hybrid import HybridWeights
    from offline.model.hybrid_fit import neighbour_table, slice_evaluator
    from offline.model.trend_prior import trend_source

    h = cfg.retrieval.hybrid
    models, skipped = candidates(h, inter.n_items)
    if not models:
        raise ValueError(
            "retrieval.hybrid.neighbour_models: no model left to build (" + "; ".join(skipped) + ")"
        )
    if sl is None or len(models) == 1:
        why = "the only candidate" if sl is not None else "config default (no validation slice)"
        return NeighbourChoice(models[0], why, [], skipped)
    users, items = inter.ev_user[fit_sources], inter.ev_item[fit_sources]
    p = fit_purchases
    trend = trend_source(inter, inter.ev_user[p], inter.ev_item[p], inter.ev_time[p], h.trend_days)
    points = [HybridWeights(1.0, t) for t in TREND_RATIOS]
    zeros = np.zeros((inter.n_items, 1), dtype=np.float32)  # no towers: z(cosine) = 0

    def no_towers(emb, *_):
        return np.zeros((len(emb), 1), dtype=np.float32)

    def evaluate(model: NeighbourModel) -> dict[str, float]:
        t = time.perf_counter()
        table = neighbour_table(users, items, len(inter.user_ids), inter.n_items, h.neighbours, model)
        built = time.perf_counter() - t
        ev = slice_evaluator(sl, zeros, no_towers, table, trend, points)
        score, ratio = max((ev(w)[METRIC], -w.trend) for w in points)  # ties: the smaller ratio
        log.info("neighbour model %s: validation neighbours + trend NDCG@10 %.4f (trend ratio %g)",
                 model.label(), score, -ratio)
        return {METRIC: float(score), "trend_ratio": -ratio, "build_s": round(built, 2)}

    best, scored = choose(evaluate, models)
    log.info("neighbour model %s chosen on validation (%d candidates)", best.label(), len(models))
    return NeighbourChoice(best, "validation: neighbours + trend NDCG@10, towers left out", scored, skipped)
