"""BPR from `implicit` on the binary purchase matrix (each user-item pair is one positive).

Threads as in als.py: implicit's loops use ``threads``; BLAS is held to one thread while fitting.
implicit's BPR adds an item bias as an extra factor, so ``user @ item`` includes it.
"""

from __future__ import annotations

import numpy as np

from offline.baselines.interactions import Interactions


class BPR:
    name = "bpr"

    def __init__(self, factors: int = 64, learning_rate: float = 0.01, regularization: float = 0.001,
                 iterations: int = 100, threads: int = 2, seed: int = 42) -> None:
        for field, value in (("factors", factors), ("iterations", iterations), ("threads", threads)):
            if value < 1:
                raise ValueError(f"{field}: must be positive, got {value!r}")
        if not learning_rate > 0:
            raise ValueError(f"learning_rate: must be positive, got {learning_rate!r}")
        self.factors, self.learning_rate, self.regularization = factors, learning_rate, regularization
        self.iterations, self.threads, self.seed = iterations, threads, seed
        self.settings = {"factors": factors, "learning_rate": learning_rate,
                         "regularization": regularization, "iterations": iterations,
                         "weighting": "binary", "threads": threads, "seed": seed}

    def fit(self, interactions: Interactions) -> None:
        try:
            from implicit.cpu.bpr import BayesianPersonalizedRanking
            from threadpoolctl import threadpool_limits
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("the BPR baseline needs `implicit`: pip install 'fulcrum[train]'") from e
        with threadpool_limits(limits=1, user_api="blas"):
            model = BayesianPersonalizedRanking(
                factors=self.factors, learning_rate=self.learning_rate,
                regularization=self.regularization, iterations=self.iterations,
                num_threads=self.threads, random_state=self.seed)
            model.fit(interactions.binary.astype(np.float32).tocsr(), show_progress=False)
        self._users = np.asarray(model.user_factors, dtype=np.float64)
        self._items = np.asarray(model.item_factors, dtype=np.float64)
        pop = interactions.distinct_buyers()
        self._popularity = pop / max(pop.max(), 1.0)

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        return self._users[user_rows] @ self._items.T

    def score_unknown(self) -> np.ndarray:
        return self._popularity.copy()
