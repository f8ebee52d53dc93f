"""Latency percentiles, one definition for every benchmark and measurement.

Linear interpolation between the two nearest ranks (numpy's default): for [1, 2, 3, 4] the
median is 2.5. An empty sample has no percentile: NaN, which the tables print as "nan" rather
than a made-up 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0 <= q <= 100) of ``values``; NaN when there are none."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q: a percentile between 0 and 100, got {q!r}")
    if len(values) == 0:
        return float("nan")
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))
