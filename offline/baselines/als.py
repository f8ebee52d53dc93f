"""ALS from `implicit` on log-weighted purchase counts (confidence = log(1 + purchase rows)).

Threads: implicit's own loops use ``threads`` (default 2, the project's core budget) while BLAS
is held to one thread during fitting, as implicit recommends (it warns otherwise).
"""

from __future__ import annotations

import numpy as np

from offline.baselines.interactions import Interactions


class ALS:
    name = "als"

    def __init__(self, factors: int = 64, regularization: float = 1.0, iterations: int = 30,
                 threads: int = 2, seed: int = 42) -> None:
        for field, value in (("factors", factors), ("iterations", iterations), ("threads", threads)):
            if value < 1:
                raise ValueError(f"{field}: must be positive, got {value!r}")
        self.factors, self.regularization, self.iterations = factors, regularization, iterations
        self.threads, self.seed = threads, seed
        self.settings = {"factors": factors, "regularization": regularization, "iterations": iterations,
                         "weighting": "log1p(purchase rows)", "threads": threads, "seed": seed}

    def fit(self, interactions: Interactions) -> None:
        try:
            from implicit.cpu.als import AlternatingLeastSquares
            from threadpoolctl import threadpool_limits
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("the ALS baseline needs `implicit`: pip install 'fulcrum[train]'") from e
        weighted = interactions.counts.copy().astype(np.float32)
        weighted.data = np.log1p(weighted.data)
        with threadpool_limits(limits=1, user_api="blas"):  # implicit checks this when built
            model = AlternatingLeastSquares(factors=self.factors, regularization=self.regularization,
                                            iterations=self.iterations, num_threads=self.threads,
                                            random_state=self.seed)
            model.fit(weighted.tocsr(), show_progress=False)
        self._users = np.asarray(model.user_factors, dtype=np.float64)
        self._items = np.asarray(model.item_factors, dtype=np.float64)
        pop = interactions.distinct_buyers()
        self._popularity = pop / max(pop.max(), 1.0)

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        return self._users[user_rows] @ self._items.T

    def score_unknown(self) -> np.ndarray:
        return self._popularity.copy()
