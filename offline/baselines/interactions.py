"""The user × item purchase-count matrix the baselines learn from (generic schema only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from fulcrum.core import schema as S


@dataclass(frozen=True)
class Interactions:
    """Rows = users, columns = items (the candidate pool), values = purchase rows per pair."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    user_index: dict[str, int]
    item_index: dict[str, int]
    counts: sparse.csr_matrix

    @classmethod
    def from_purchases(cls, purchases: pd.DataFrame) -> Interactions:
        users = pd.Categorical(purchases[S.USER_ID].astype(str))
        items = pd.Categorical(purchases[S.ITEM_ID].astype(str))
        matrix = sparse.csr_matrix(
            (np.ones(len(purchases), dtype=np.float32), (users.codes, items.codes)),
            shape=(len(users.categories), len(items.categories)),
        )
        matrix.sum_duplicates()
        user_ids = np.asarray(users.categories, dtype=object)
        item_ids = np.asarray(items.categories, dtype=object)
        return cls(
            user_ids=user_ids,
            item_ids=item_ids,
            user_index={u: i for i, u in enumerate(user_ids)},
            item_index={it: i for i, it in enumerate(item_ids)},
            counts=matrix,
        )

    @property
    def binary(self) -> sparse.csr_matrix:
        out = self.counts.copy()
        out.data[:] = 1.0
        return out

    def distinct_buyers(self) -> np.ndarray:
        """Per item, the number of distinct users who bought it."""
        return np.asarray((self.counts > 0).sum(axis=0)).ravel().astype(np.float64)
