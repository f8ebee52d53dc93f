"""The head's training rows as arrays: one ``RankRows`` per slice (fit, validation, test).

Every row is a (user, candidate item, time) with the ``rank_features`` vector, the purchase label
(1 = the user bought this item at that time, 0 = a sampled catalogue negative) and the
cancellation label (1/0 for purchased lines, -1 = not applicable for negatives).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RankRows:
    x: np.ndarray  # float32 [N, F]
    purchase: np.ndarray  # int8 [N] 0/1
    cancel: np.ndarray  # int8 [N] 0/1, -1 where purchase == 0
    user_cold: np.ndarray | None = None  # bool [N]: the user had no history before the row's time

    def __post_init__(self) -> None:
        n = len(self.x)
        if len(self.purchase) != n or len(self.cancel) != n:
            raise ValueError(
                f"RankRows: x has {n} rows, purchase {len(self.purchase)}, cancel {len(self.cancel)}"
            )

    def __len__(self) -> int:
        return len(self.x)

    @property
    def cancel_mask(self) -> np.ndarray:
        return self.cancel >= 0

    def take(self, idx: np.ndarray) -> RankRows:
        return RankRows(
            self.x[idx],
            self.purchase[idx],
            self.cancel[idx],
            None if self.user_cold is None else self.user_cold[idx],
        )

    def save(self, path) -> None:
        np.savez_compressed(
            path,
            x=self.x,
            purchase=self.purchase,
            cancel=self.cancel,
            user_cold=self.user_cold if self.user_cold is not None else np.zeros(0, bool),
        )

    @classmethod
    def load(cls, path) -> RankRows:
        z = np.load(path)
        cold = z["user_cold"] if len(z["user_cold"]) == len(z["x"]) else None
        return cls(z["x"], z["purchase"], z["cancel"], cold)
