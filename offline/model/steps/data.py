"""Training step: the train split, the validation cut and the event masks the later steps use."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from offline.model.holdout import DiscoverySlice
from offline.model.interactions import PURCHASE_CODE, Interactions, item_stats, load_interactions
from offline.model.validation_protocol import ValidationProtocol, choose_protocol, no_targets_error
from offline.train_config import TrainConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunData:
    """The train split plus the validation slice: ``val_cut`` ([U]) is each user's cut (the last
    ``retrieval.validation_days`` of train on a time split, the last train basket on
    leave-last-out, +inf when validation is off); everything before it is what the model fits on."""

    inter: Interactions
    stats: pd.DataFrame
    val_cut: np.ndarray
    fit_ev: np.ndarray  # [E] event before its user's validation cut
    purchases: np.ndarray  # [E] event is a purchase
    counts: np.ndarray  # [N] purchases per item in the fit window
    val_pairs: tuple[np.ndarray, np.ndarray]  # (user row, item row) of the validation purchases
    #: the protocol validation (and the test self-check) is scored with
    #: (``offline.model.validation_protocol``: chosen from the data unless the config sets it)
    protocol: ValidationProtocol
    #: the validation slice under that protocol, built once (None when validation is off)
    val_slice: DiscoverySlice | None
    #: the hybrid's neighbour model (offline.model.neighbour_choice.NeighbourChoice), set by the
    #: hybrid step's ``choose_neighbours`` right after the data (None: the hybrid is off)
    neighbour_choice: Any = None

    @property
    def neighbour_model(self):
        """The chosen ``offline.model.item_graph.NeighbourModel`` (None: cosine, see there)."""
        return None if self.neighbour_choice is None else self.neighbour_choice.model

    @property
    def fit_purchases(self) -> np.ndarray:
        return self.purchases & self.fit_ev

    @property
    def history_events(self) -> np.ndarray:
        """[E] the events that make an item known under the protocol: purchases, or every positive
        behaviour (interactions) -- what the id residuals start from and are kept for."""
        if self.protocol.history == "interactions":
            from offline.model.validation_protocol import positive_codes

            return np.isin(self.inter.ev_type, np.fromiter(positive_codes(), dtype=np.int64))
        return self.purchases


    @property
    def neighbour_source(self) -> str:
        """The hybrid's neighbour source (fulcrum/core/neighbour_source.py): the protocol's history
        kind -- purchases, or every positive interaction on a multi-behaviour shop."""
        from fulcrum.core.neighbour_source import check_source

        return check_source(self.protocol.history)

    @property
    def neighbour_events(self) -> np.ndarray | None:
        """[E] the events the neighbour table is built from under the interactions source (every
        positive behaviour); None under the purchases source (the purchases, unchanged)."""
        from fulcrum.core.neighbour_source import PURCHASES

        return None if self.neighbour_source == PURCHASES else self.history_events


def prepare_data(
    data_dir: str | Path, cfg: TrainConfig, t_start: float, timings: dict[str, float]
) -> RunData:
    """Load the prepared data folder and cut the validation slice; fills ``timings["load_s"]``
    (counted from ``t_start``, the run's start)."""
    inter = load_interactions(data_dir)
    stats = item_stats(inter)
    timings["load_s"] = time.perf_counter() - t_start
    log.info(
        "data: %d items, %d users, %d train events", inter.n_items, len(inter.user_ids), len(inter.ev_item)
    )
    ev_user = inter.ev_user
    if cfg.retrieval.validation_days > 0:
        val_cut = inter.validation_cuts(cfg.retrieval.validation_days)
    else:
        val_cut = np.full(len(inter.user_ids), np.inf)
    fit_ev = inter.ev_time < val_cut[ev_user]
    purchases = inter.ev_type == PURCHASE_CODE
    counts = np.bincount(inter.ev_item[purchases & fit_ev], minlength=inter.n_items)
    val_mask = purchases & ~fit_ev
    val_pairs = (ev_user[val_mask], inter.ev_item[val_mask])
    protocol = choose_protocol(inter, cfg.retrieval.validation_protocol)
    val_slice = None
    if cfg.retrieval.validation_days > 0:
        val_slice = DiscoverySlice.build(
            inter, val_cut, val_pairs, cfg.user.history_len, cfg.retrieval.validation_max_users, cfg.seed,
            protocol,
        )
        if not val_slice.warm:  # checked before the text stage: fail in seconds, not minutes
            raise no_targets_error(
                protocol, len(val_pairs[0]), cfg.retrieval.validation_days, inter.split_kind
            )
        log.info("validation: %s protocol (%s), %d users scored", protocol.name, protocol.reason,
                 len(val_slice.warm))
    return RunData(inter, stats, val_cut, fit_ev, purchases, counts, val_pairs, protocol, val_slice)
