"""Paired bootstrap over queries (pure NumPy, seeded).

Queries are resampled with replacement ``n`` times; the same resample is applied to every
system, so a difference's interval reflects the per-query pairing. Intervals are percentile
intervals (2.5 % and 97.5 % for the default 95 %).
"""

from __future__ import annotations

import numpy as np


def resamples(n_queries: int, n: int = 2000, seed: int = 0) -> np.ndarray:
    """[n, n_queries] query indices drawn with replacement."""
    return np.random.default_rng(seed).integers(0, n_queries, size=(n, n_queries))


def interval(values: np.ndarray, draws: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the mean of ``values`` over the resamples ``draws``."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return (float("nan"), float("nan"))
    means = values[draws].mean(axis=1)
    tail = (1.0 - level) / 2.0
    return float(np.quantile(means, tail)), float(np.quantile(means, 1.0 - tail))


def paired_difference(a: np.ndarray, b: np.ndarray, draws: np.ndarray, level: float = 0.95) -> dict:
    """Mean of a - b, its interval, and the share of resamples in which a does not beat b."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    lo, hi = interval(diff, draws, level)
    means = diff[draws].mean(axis=1) if len(diff) else np.zeros(1)
    return {
        "mean": float(diff.mean()) if len(diff) else float("nan"),
        "low": lo,
        "high": hi,
        "p_not_better": float((means <= 0).mean()),
    }
