"""Negative undersampling and the exact correction of the probabilities it distorts.

Keeping each negative with probability w (and every positive) multiplies the odds by 1 / w, so a
model trained on the sample predicts p_s where the true probability is (Dal Pozzolo et al. 2015)
    p = p_s / (p_s + (1 - p_s) / w),   i.e.   logit(p) = logit(p_s) + log(w).
"""

from __future__ import annotations

import math

import numpy as np


def undersample_negatives(y: np.ndarray, keep_rate: float, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of the kept rows: every positive, each negative with probability keep_rate."""
    if not 0 < keep_rate <= 1:
        raise ValueError(f"keep_rate must be in (0, 1], got {keep_rate}")
    y = np.asarray(y)
    keep = (y > 0.5) | (rng.random(y.shape[0]) < keep_rate)
    return np.flatnonzero(keep)


def recalibrate_undersampled(prob: np.ndarray, keep_rate: float) -> np.ndarray:
    """p' = p / (p + (1 - p) / w) for probabilities from a model trained on undersampled negatives."""
    if not 0 < keep_rate <= 1:
        raise ValueError(f"keep_rate must be in (0, 1], got {keep_rate}")
    p = np.asarray(prob, dtype=np.float64)
    return p / (p + (1.0 - p) / keep_rate)


def undersampling_logit_shift(keep_rate: float) -> float:
    """The same correction in logit space: add log(w) to the logit."""
    if not 0 < keep_rate <= 1:
        raise ValueError(f"keep_rate must be in (0, 1], got {keep_rate}")
    return math.log(keep_rate)
