"""Augmentations, each switchable in the config (and measured with it on and off).

Sequence augmentation works on padded history batches (see offline.model.examples):
- crop: keep only a random most-recent suffix of the history;
- mask: drop each event with a probability (at least one event stays);
- reorder: permute the events' ages inside a random window of up to 4 events (the user tower
  reads order only through ages, so this is a local reordering).

Text augmentation for tail items works on the cached lower-layer BERT states (the frozen layers
are computed once, see offline.model.text_tower): token dropout masks random word-piece
positions out of attention; word shuffle permutes the non-special positions' states.
"""

from __future__ import annotations

import numpy as np
import torch

from offline.train_config import SeqAugConfig, TextAugConfig


def augment_sequences(
    rng: np.random.Generator, types: np.ndarray, age: np.ndarray, mask: np.ndarray, cfg: SeqAugConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return augmented copies of (types, age, mask) [B, T]; histories are right-aligned."""
    if not cfg.enabled:
        return types, age, mask
    types, age, mask = types.copy(), age.copy(), mask.copy()
    b, t = mask.shape
    lengths = mask.sum(1).astype(np.int64)
    # crop: keep the last k events, k uniform in [1, length]
    crop = (rng.random(b) < cfg.crop_prob) & (lengths > 1)
    for i in np.flatnonzero(crop):
        k = int(rng.integers(1, lengths[i] + 1))
        mask[i, : t - k] = 0.0
    # mask: drop events, keep at least the most recent one
    if cfg.mask_prob > 0:
        drop = (rng.random((b, t)) < cfg.mask_prob) & (mask > 0)
        drop[:, -1] = False
        mask[drop] = 0.0
    # reorder: permute ages within a window of up to 4 real events
    for i in np.flatnonzero(rng.random(b) < cfg.reorder_prob):
        real = np.flatnonzero(mask[i] > 0)
        if len(real) < 2:
            continue
        w = int(rng.integers(2, min(4, len(real)) + 1))
        s = int(rng.integers(0, len(real) - w + 1))
        pos = real[s : s + w]
        age[i, pos] = age[i, rng.permutation(pos)]
    types = np.where(mask > 0, types, 0)
    return types, age, mask


def augment_text_states(
    gen: torch.Generator, hidden: torch.Tensor, mask: torch.Tensor, is_tail: torch.Tensor, cfg: TextAugConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token dropout / word shuffle on cached states [B, L, H] of the rows where ``is_tail``."""
    if not cfg.enabled or not bool(is_tail.any()):
        return hidden, mask
    hidden, mask = hidden.clone(), mask.clone()
    lengths = mask.sum(1)
    # the first ([CLS]) and last real ([SEP]) positions are never touched
    pos = torch.arange(mask.shape[1])[None, :]
    inner = (pos > 0) & (pos < (lengths - 1)[:, None]) & is_tail[:, None]
    if cfg.token_dropout > 0:
        drop = (torch.rand(mask.shape, generator=gen) < cfg.token_dropout) & inner
        keep_one = inner & ~drop
        # leave rows with every inner token dropped unchanged
        drop &= keep_one.any(1, keepdim=True)
        mask = mask.masked_fill(drop, 0)
    if cfg.word_shuffle:
        for i in torch.nonzero(is_tail).flatten().tolist():
            idx = torch.nonzero(inner[i]).flatten()
            if len(idx) > 1:
                perm = idx[torch.randperm(len(idx), generator=gen)]
                hidden[i, idx] = hidden[i, perm]
                mask[i, idx] = mask[i, perm]
    return hidden, mask
