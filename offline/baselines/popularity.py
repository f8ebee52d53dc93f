"""Popularity: every user gets the items with the most distinct train buyers."""

from __future__ import annotations

import numpy as np

from offline.baselines.interactions import Interactions


class Popularity:
    name = "popularity"
    settings = {"score": "distinct buyers"}

    def fit(self, interactions: Interactions) -> None:
        self._scores = interactions.distinct_buyers()

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self._scores, (len(user_rows), self._scores.size)).copy()

    def score_unknown(self) -> np.ndarray:
        return self._scores.copy()
