"""Re-purchase: the user's own past items ranked by how often they bought them, then popularity.

Only meaningful for the repeat-allowed variant (in discovery every past item is excluded and this
degrades to popularity); the shared data README reports NDCG@10 0.343 there, above ALS.
"""

from __future__ import annotations

import numpy as np

from offline.baselines.interactions import Interactions


class Repurchase:
    name = "repurchase"
    settings = {"score": "own purchase rows, then distinct buyers"}

    def fit(self, interactions: Interactions) -> None:
        self._counts = interactions.counts
        pop = interactions.distinct_buyers()
        # popularity in [0, 1) sits below any single past purchase (>= 1)
        self._popularity = 0.5 * pop / max(pop.max(), 1.0)

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        return self._counts[user_rows].toarray().astype(np.float64) + self._popularity[None, :]

    def score_unknown(self) -> np.ndarray:
        return self._popularity.copy()
