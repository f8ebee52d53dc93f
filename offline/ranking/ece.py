"""Expected calibration error of binary probabilities.

ECE = sum over equal-width probability bins b of (|b| / n) * |mean(y in b) - mean(p in b)|.
Bins are [0, 1/B), [1/B, 2/B), ..., [(B-1)/B, 1]: a probability of exactly 1 falls in the last bin.
Empty bins contribute nothing. Pure numpy.
"""

from __future__ import annotations

import numpy as np


def expected_calibration_error(y_true: np.ndarray, prob: np.ndarray, n_bins: int = 15) -> float:
    y = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(prob, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"y_true has {y.size} values but prob has {p.size}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if y.size == 0:
        return 0.0
    if np.any((p < 0) | (p > 1)) or np.any(np.isnan(p)):
        raise ValueError("prob must be in [0, 1]")
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    sum_y = np.bincount(bins, weights=y, minlength=n_bins)
    sum_p = np.bincount(bins, weights=p, minlength=n_bins)
    # |mean_y - mean_p| * count / n  ==  |sum_y - sum_p| / n
    return float(np.abs(sum_y - sum_p).sum() / y.size)


def calibration_curve_points(
    y_true: np.ndarray, prob: np.ndarray, n_bins: int = 15
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per non-empty bin: (mean predicted probability, observed positive rate, count), for plots."""
    y = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(prob, dtype=np.float64).ravel()
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins).astype(np.float64)
    keep = count > 0
    mean_p = np.bincount(bins, weights=p, minlength=n_bins)[keep] / count[keep]
    mean_y = np.bincount(bins, weights=y, minlength=n_bins)[keep] / count[keep]
    return mean_p, mean_y, count[keep]
