"""Item-kNN on co-purchases: cosine similarity of items' buyer sets, top-N neighbours per item.

score(u, j) = sum of sim(j, i) over the N nearest neighbours i of the candidate j that the user
bought (the classic item-based formulation: each candidate is judged by its own neighbourhood;
judging by the history items' neighbourhoods instead gave NDCG@10 0.076 vs 0.083 on OR-temporal).
Zero scores are broken by popularity (a 1e-6 nudge), and unknown users get
popularity, so lists are always full.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from offline.baselines.interactions import Interactions

_TIE_BREAK = 1e-6


def cosine_neighbours(binary: sparse.csr_matrix, n_neighbours: int) -> sparse.csr_matrix:
    """Item × item matrix holding, in row i, the cosine similarity of i to its ``n_neighbours``
    most similar other items (by co-buyers / sqrt(buyers_i × buyers_j)); zeros elsewhere."""
    co = (binary.T @ binary).tocsr().astype(np.float64)
    norms = np.sqrt(co.diagonal())
    norms[norms == 0] = 1.0
    co.setdiag(0.0)
    co.eliminate_zeros()
    coo = co.tocoo()
    sims = coo.data / (norms[coo.row] * norms[coo.col])
    co = sparse.csr_matrix((sims, (coo.row, coo.col)), shape=co.shape)
    rows, cols, vals = [], [], []
    for i in range(co.shape[0]):
        start, end = co.indptr[i], co.indptr[i + 1]
        if start == end:
            continue
        data, idx = co.data[start:end], co.indices[start:end]
        if data.size > n_neighbours:
            keep = np.lexsort((idx, -data))[:n_neighbours]
            data, idx = data[keep], idx[keep]
        rows.append(np.full(idx.size, i))
        cols.append(idx)
        vals.append(data)
    if not rows:
        return sparse.csr_matrix(co.shape)
    return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=co.shape)


class ItemItemScorer:
    """score(u, j) = sum of W[i, j] over the items i the user has (W rows: sources), zero scores
    broken by a popularity nudge, unknown users get popularity: the scoring every item-item
    baseline shares. A subclass gives ``weights(binary)``."""

    def weights(self, binary: sparse.csr_matrix) -> sparse.csr_matrix:
        raise NotImplementedError

    def fit(self, interactions: Interactions) -> None:
        self._binary = interactions.binary
        self._w = self.weights(self._binary)
        pop = interactions.distinct_buyers()
        self._nudge = _TIE_BREAK * pop / max(pop.max(), 1.0)

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        scores = (self._binary[user_rows] @ self._w).toarray()
        return scores + self._nudge[None, :]

    def score_unknown(self) -> np.ndarray:
        return self._nudge.copy()


class ItemKNN(ItemItemScorer):
    name = "itemknn"

    def __init__(self, n_neighbours: int = 20) -> None:
        if n_neighbours < 1:
            raise ValueError(f"n_neighbours: must be positive, got {n_neighbours!r}")
        self.n_neighbours = n_neighbours
        self.settings = {"similarity": "co-purchase cosine", "neighbours": n_neighbours}

    def weights(self, binary: sparse.csr_matrix) -> sparse.csr_matrix:
        # row j of the neighbour matrix = j's neighbours; transposed so that X @ sims sums them
        return cosine_neighbours(binary, self.n_neighbours).T.tocsr()
