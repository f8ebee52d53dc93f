"""Resampling of the head's input vectors with imbalanced-learn (SMOTE, ADASYN, random under/over).

Vectors are standardised before resampling (SMOTE and ADASYN interpolate between nearest
neighbours, which is meaningless across raw scales) and mapped back afterwards. ``ratio`` is the
minority/majority ratio after resampling (imbalanced-learn's ``sampling_strategy``).
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

IMBLEARN_METHODS = ("smote", "adasyn", "random_under", "random_over")


def _sampler(method: str, ratio: float, k: int, seed: int):
    try:
        from imblearn.over_sampling import ADASYN, SMOTE, RandomOverSampler
        from imblearn.under_sampling import RandomUnderSampler
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("resampling needs imbalanced-learn: pip install 'fulcrum[train]'") from e
    if method == "smote":
        return SMOTE(sampling_strategy=ratio, k_neighbors=k, random_state=seed)
    if method == "adasyn":
        return ADASYN(sampling_strategy=ratio, n_neighbors=k, random_state=seed)
    if method == "random_under":
        return RandomUnderSampler(sampling_strategy=ratio, random_state=seed)
    if method == "random_over":
        return RandomOverSampler(sampling_strategy=ratio, random_state=seed)
    raise ValueError(f"resampling method {method!r}: expected one of {', '.join(IMBLEARN_METHODS)}")


def resample(
    x: np.ndarray, y: np.ndarray, method: str, ratio: float, k: int = 5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Resampled (x, y). If the minority is already at or above ``ratio`` the input is returned."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y).astype(np.int64)
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("resampling needs both classes")
    if n_pos / n_neg >= ratio:
        return x.astype(np.float32), y
    k = max(1, min(k, n_pos - 1))
    mean, std = x.mean(axis=0), x.std(axis=0)
    std = np.where(std > 1e-8, std, 1.0)
    try:
        xs, ys = _sampler(method, ratio, k, seed).fit_resample((x - mean) / std, y)
    except ValueError as e:
        if method != "adasyn" or "No samples will be generated" not in str(e):
            raise
        # ADASYN generates around minority rows that have majority neighbours; none here
        log.warning("ADASYN generated no samples (%s); rows left as they are", e)
        return x.astype(np.float32), y
    return (xs * std + mean).astype(np.float32), np.asarray(ys, dtype=np.int64)
