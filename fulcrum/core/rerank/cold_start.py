"""Cold start: what to show a user with no history.

The score mixes a popularity percentile with the request's context (similarity to the session's
items, when there are any): ``(1 - w) * popularity_pct + w * similarity``, similarity rescaled
from cosine [-1, 1] to [0, 1]. Without context it is popularity alone. Recommend passes the
catalogue's "popular now" percentile (``Catalogue.popular_now_pct``: the bundle's trend prior,
ties by all-time popularity).
"""

from __future__ import annotations

import numpy as np


def cold_start_scores(
    popularity_pct: np.ndarray, context_similarity: np.ndarray | None, context_weight: float = 0.5
) -> np.ndarray:
    pop = np.asarray(popularity_pct, dtype=np.float64)
    if context_similarity is None:
        return pop
    if not 0.0 <= context_weight <= 1.0:
        raise ValueError("context_weight must be in [0, 1]")
    sim01 = (np.asarray(context_similarity, dtype=np.float64) + 1.0) / 2.0
    return (1.0 - context_weight) * pop + context_weight * sim01
