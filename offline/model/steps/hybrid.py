"""Training step: the hybrid score (``fulcrum.core.hybrid``) -- its neighbour model chosen on
validation before the towers (``choose_neighbours``), its weights chosen on
validation (``offline.model.hybrid_fit.choose_on_validation``) and its parts (neighbour table,
trend prior) over all train purchases -- the table over every positive behaviour under the
interactions neighbour source (``RunData.neighbour_events``) -- which the bundle ships."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from offline.model.steps.data import RunData
from offline.model.steps.towers import Towers
from offline.train_config import TrainConfig


@dataclass(frozen=True)
class HybridChoice:
    weights: Any  # fulcrum.core.hybrid.HybridWeights, None when the config switches it off
    grid: list[dict]  # the validation grid (empty without validation)

    @property
    def best(self) -> dict:
        """The grid point with the best validation NDCG@10 ({} without a grid)."""
        return max(self.grid, key=lambda p: p["ndcg@10"]) if self.grid else {}


def choose_neighbours(data: RunData, cfg: TrainConfig, timings: dict[str, float]) -> RunData:
    """``data`` with its neighbour model (``offline.model.neighbour_choice``: chosen on the
    validation slice from the fitted events of the neighbour source) before the towers train (the
    serving score that keeps an epoch needs the table); unchanged when the hybrid is off."""
    if not cfg.retrieval.hybrid.enabled:
        return data
    from offline.model.neighbour_choice import choose_neighbour_model

    t = time.perf_counter()
    src = data.neighbour_events
    fit_sources = data.fit_purchases if src is None else src & data.fit_ev
    choice = choose_neighbour_model(cfg, data.inter, fit_sources, data.fit_purchases, data.val_slice)
    timings["neighbour_model_s"] = time.perf_counter() - t
    return dataclasses.replace(data, neighbour_choice=choice)


def choose_hybrid(data: RunData, towers: Towers, cfg: TrainConfig, timings: dict[str, float]) -> HybridChoice:
    from offline.model.hybrid_fit import choose_on_validation

    t = time.perf_counter()
    src = data.neighbour_events
    weights, grid = choose_on_validation(
        cfg, data.inter, towers.table, towers.encode_users, data.fit_purchases, data.val_cut, data.val_pairs,
        sl=data.val_slice, fit_sources=None if src is None else src & data.fit_ev,
        source=data.neighbour_source, model=data.neighbour_model,
    )
    timings["hybrid_select_s"] = time.perf_counter() - t
    return HybridChoice(weights, grid)


def hybrid_parts_at_train_end(data: RunData, cfg: TrainConfig, choice: HybridChoice):
    """(neighbour table, trend prior, trend of an item without buyers) from every train purchase
    (the table: every train event of the neighbour source, ``offline.model.hybrid_fit.hybrid_parts``);
    None when the hybrid score is off."""
    if choice.weights is None:
        return None
    from offline.model.hybrid_fit import hybrid_parts

    inter, p, h = data.inter, data.purchases, cfg.retrieval.hybrid
    src = data.neighbour_events  # None: the table from the purchases too
    return hybrid_parts(
        inter.ev_user[p], inter.ev_item[p], inter.ev_time[p], inter.train_end,
        inter.n_items, h.neighbours, h.trend_days,
        table_events=None if src is None else (inter.ev_user[src], inter.ev_item[src], inter.ev_time[src]),
        model=data.neighbour_model,
    )
