"""Paired bootstrap confidence intervals for the ratio of two recommenders' mean metric.

Both recommenders were scored on the same users, so a resample draws USERS (with replacement)
and takes both recommenders' values of those users: ratio* = mean(a[idx]) / mean(b[idx]). The
interval is the (1 - level) / 2 and (1 + level) / 2 quantiles of ratio* (percentile method, no
interpolation, so an infinite resample ratio -- a resample where only b scores 0 everywhere --
cannot turn the bounds into NaN); a resample where both score 0 has no ratio and is left out
(counted in ``undefined_resamples``; all of them undefined gives no bounds). Pairing removes the
user-to-user variance both share, which makes the interval much tighter than two separate
intervals would.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _pair(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"paired values: need two equal-length non-empty vectors, got {a.shape} and "
                         f"{b.shape}")
    return a, b


def resample_ratios(a: np.ndarray, b: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """mean(a[idx]) / mean(b[idx]) per row of ``indices``; +inf when only b's mean is 0, NaN
    (undefined, left out of the interval) when both are."""
    idx = np.asarray(indices, dtype=np.int64)
    if idx.ndim != 2 or idx.shape[0] == 0:
        raise ValueError("indices: need a [n_resamples, n_users] array")
    num = a[idx].mean(axis=1)
    den = b[idx].mean(axis=1)
    safe = np.where(den > 0, den, 1.0)
    return np.where(den > 0, num / safe, np.where(num > 0, np.inf, np.nan))


def ratio_interval_from_indices(a: Sequence[float], b: Sequence[float], indices: np.ndarray,
                                level: float = 0.95) -> dict[str, float | None]:
    """Point ratio mean(a) / mean(b) and the percentile interval over the given resamples.

    ``indices`` is [n_resamples, n_users] of user positions. ``ratio`` is None when mean(b) is 0.
    """
    a, b = _pair(a, b)
    return _summary(a, b, resample_ratios(a, b, indices), level)


def _summary(a: np.ndarray, b: np.ndarray, ratios: np.ndarray, level: float) -> dict[str, float | None]:
    if not 0 < level < 1:
        raise ValueError(f"level: must be in (0, 1), got {level!r}")
    tail = (1.0 - level) / 2.0
    defined = ratios[~np.isnan(ratios)]
    low = high = None
    if defined.size:
        low, high = (float(v) for v in np.quantile(defined, [tail, 1.0 - tail], method="inverted_cdf"))
    mb = float(b.mean())
    return {
        "ratio": float(a.mean()) / mb if mb > 0 else None,
        "low": low,
        "high": high,
        "undefined_resamples": int(ratios.size - defined.size),
        "level": level,
        "users": int(a.size),
        "resamples": int(ratios.size),
    }


def paired_ratio_interval(a: Sequence[float], b: Sequence[float], resamples: int = 2000,
                          level: float = 0.95, seed: int = 0) -> dict[str, float | None]:
    """:func:`ratio_interval_from_indices` over ``resamples`` seeded draws of the users."""
    if resamples < 1:
        raise ValueError(f"resamples: must be positive, got {resamples!r}")
    n = len(a)
    if n == 0:
        raise ValueError("paired values: no users")
    a, b = _pair(a, b)
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // n)  # bounded memory for many users
    ratios = np.concatenate([
        resample_ratios(a, b, rng.integers(0, n, size=(min(chunk, resamples - start), n)))
        for start in range(0, resamples, chunk)
    ])
    return _summary(a, b, ratios, level)
