"""A score per catalogue row held as the rows that have one (sorted) and a fill for all others.

Search's lexical scores are 0 except at the rows that hold a query term (BM25 from the
postings), and on a big catalogue its dense scores are exact only on the ANN pool (a floor
elsewhere, fulcrum/core/bundle/ann_retrieval.py). Held as ``[N]`` arrays, each request would
allocate and scan arrays the size of the catalogue; ``SparseScores`` keeps the rows and values
and is read like the array it stands for (``scores[rows]``, ``len``), so the fusion
(fulcrum/core/search/fusion.py) works on either form with the same results.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SparseScores:
    """[n] scores: ``values`` at ``rows`` (sorted, unique, in [0, n)), ``fill`` elsewhere."""

    rows: np.ndarray
    values: np.ndarray
    n: int
    fill: float = 0.0

    @classmethod
    def empty(cls, n: int, dtype=np.float64) -> SparseScores:
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=dtype), int(n))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, at) -> np.ndarray:
        """The scores at the rows ``at`` (an int array), as indexing the [n] array would give."""
        at = np.asarray(at)
        out = np.full(at.shape, self.fill, dtype=self.values.dtype)
        if len(self.rows) and at.size:
            pos = np.minimum(np.searchsorted(self.rows, at), len(self.rows) - 1)
            hit = self.rows[pos] == at
            out[hit] = self.values[pos[hit]]
        return out

    def dense(self) -> np.ndarray:
        """The [n] array (O(n): for tests and offline use)."""
        out = np.full(self.n, self.fill, dtype=self.values.dtype)
        out[self.rows] = self.values
        return out
