"""Paired bootstrap interval for the ratio of a whole-sample statistic of two scorers.

For metrics that are not a mean over users -- PR-AUC, ECE -- of two scorers ``a`` and ``b`` on
the same labelled rows (e.g. an imbalance method and the cross-entropy control on the ranking
head's test rows): each resample draws ROWS with replacement and recomputes
``statistic(y[idx], a[idx]) / statistic(y[idx], b[idx])``; the interval is its percentile range
(no interpolation). Resamples where the ratio is undefined (b's statistic 0 or NaN, e.g. no
positive row drawn) are left out and counted. The mean-over-users case is
``offline.eval.bootstrap``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Statistic = Callable[[np.ndarray, np.ndarray], float]


def statistic_ratio_from_indices(
    statistic: Statistic, y, a, b, indices: np.ndarray, level: float = 0.95
) -> dict[str, float | int | None]:
    y, a, b = (np.asarray(v) for v in (y, a, b))
    if not (y.shape == a.shape == b.shape) or y.ndim != 1 or y.size == 0:
        raise ValueError(f"rows: need three equal-length vectors, got {y.shape}, {a.shape}, {b.shape}")
    if not 0 < level < 1:
        raise ValueError(f"level: must be in (0, 1), got {level!r}")
    ratios = []
    for idx in np.asarray(indices, dtype=np.int64):
        sa, sb = float(statistic(y[idx], a[idx])), float(statistic(y[idx], b[idx]))
        ratios.append(sa / sb if np.isfinite(sa) and np.isfinite(sb) and sb != 0 else np.nan)
    r = np.asarray(ratios, dtype=np.float64)
    defined = r[~np.isnan(r)]
    tail = (1.0 - level) / 2.0
    low = high = None
    if defined.size:
        low, high = (float(v) for v in np.quantile(defined, [tail, 1.0 - tail], method="inverted_cdf"))
    full_a, full_b = float(statistic(y, a)), float(statistic(y, b))
    return {
        "ratio": full_a / full_b if full_b else None,
        "low": low,
        "high": high,
        "level": level,
        "rows": int(y.size),
        "resamples": int(r.size),
        "undefined_resamples": int(r.size - defined.size),
    }


def statistic_ratio_interval(
    statistic: Statistic, y, a, b, resamples: int = 500, level: float = 0.95, seed: int = 0
) -> dict[str, float | int | None]:
    """:func:`statistic_ratio_from_indices` over ``resamples`` seeded draws of the rows."""
    if resamples < 1:
        raise ValueError(f"resamples: must be positive, got {resamples!r}")
    n = len(y)
    if n == 0:
        raise ValueError("rows: none")
    idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    return statistic_ratio_from_indices(statistic, y, a, b, idx, level)
