"""Training step: the ranking head (``offline.export.ranker_source.build_ranker``) on the
fitted two towers' scores."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from offline.model.steps.data import RunData
from offline.model.steps.towers import Towers
from offline.train_config import TrainConfig


def fit_ranker(
    data_dir: Path, data: RunData, item_vecs: np.ndarray, towers: Towers, cfg: TrainConfig,
    timings: dict[str, float],
):
    """(two-tower scorer, ``RankerResult``); the head's validation window is the retrieval's
    unless ``ranker_config`` names its own."""
    from offline.export.ranker_source import build_ranker
    from offline.model.scorer import TwoTowerScorer

    t = time.perf_counter()
    scorer = TwoTowerScorer(data.stats["item_id"].tolist(), item_vecs, towers.user, cfg.user.history_len)
    ranker_cfg = dict(cfg.ranker_config)
    if cfg.retrieval.validation_days > 0:
        ranker_cfg = {"val_days": cfg.retrieval.validation_days, **ranker_cfg}
    ranker = build_ranker(cfg.ranker, data_dir, data.inter, data.stats, scorer, cfg.seed, ranker_cfg)
    timings["ranker_s"] = time.perf_counter() - t
    return scorer, ranker
