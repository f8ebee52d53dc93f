"""Training step: the text stage (``offline.model.text_stage``), or its result from a cache.

The cache (a dict the caller keeps, ``train_run(text_cache=...)``) is keyed by everything the
text stage depends on: model path, text settings, dim, seed, the validation cut and the data
fingerprint. A hit restores the projection's post-text weights and the random state the text
stage left behind, so everything after it draws exactly what an uncached run draws.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from offline.model.steps.data import RunData
from offline.train_config import TrainConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextFeatures:
    tok: Any  # tokenizers.Tokenizer (truncating at text.max_len)
    tower: Any  # offline.model.text_tower.TextTower, fine-tuned
    pooled: Any  # torch.Tensor [N, H]: pooled text features of every item
    pairs: Any  # the co-purchase pairs the top layers were fine-tuned on
    losses: list[float]


def text_features(
    data: RunData,
    cfg: TrainConfig,
    model_path: Path,
    rng: np.random.Generator,
    progress: bool,
    timings: dict[str, float],
    text_cache: dict | None,
) -> TextFeatures:
    import torch

    inter = data.inter
    cut_key = hashlib.sha256(data.val_cut.tobytes()).hexdigest()
    text_key = (str(model_path), cfg.text.model_dump_json(), cfg.dim, cfg.seed, cut_key, inter.fingerprint)
    cached = text_cache.get(text_key) if text_cache is not None else None
    if cached is not None:
        tok, tower, proj_state, pooled, pairs, text_losses, torch_rng, np_rng = cached
        tower.proj.load_state_dict(copy.deepcopy(proj_state))
        torch.set_rng_state(torch_rng.clone())
        rng.bit_generator.state = copy.deepcopy(np_rng)
        log.info("text stage reused from the cache (%d items)", len(pooled))
        return TextFeatures(tok, tower, pooled, pairs, text_losses)

    from offline.model.text_stage import text_stage

    tok, tower, pooled, pairs, text_losses = text_stage(
        inter, cfg, model_path, data.counts, data.val_cut, rng, progress, timings
    )
    if text_cache is not None:
        text_cache[text_key] = (
            tok,
            tower,
            copy.deepcopy(tower.proj.state_dict()),
            pooled,
            pairs,
            text_losses,
            torch.get_rng_state(),
            copy.deepcopy(rng.bit_generator.state),
        )
    return TextFeatures(tok, tower, pooled, pairs, text_losses)
