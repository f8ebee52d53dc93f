"""Item-item models for the hybrid's neighbour term: pure functions from a binary user x item
matrix to an item x item weight matrix ``W`` with ``W[i, j]`` = how much having item ``i`` (a
source: bought, or a positive interaction) speaks for item ``j`` (a candidate), zero diagonal.
A user's neighbour scores are ``x_u @ W`` -- exactly the serving sum of the source rows of the
bundle's neighbour table (``fulcrum.core.hybrid.NeighbourTable``, CSR by source), so serving
does not know or care which model built the table.

- ``cosine``: the item-kNN similarity of ``offline.baselines.itemknn`` (cosine of the items'
  user sets), each CANDIDATE keeping its ``neighbours`` most similar items (what the bundle held
  before the choice existed).
- ``rp3beta``: a three-step random walk item -> user -> item (Paudel et al. 2017, "Updatable,
  accurate, diverse, and scalable recommendations for interactive applications"; strong in
  Dacrema et al. 2019's re-run of neural recommenders):
  ``W[i, j] = sum_u (X[u,i] / deg(i))^alpha * (X[u,j] / deg(u))^alpha / deg(j)^beta``, then each
  CANDIDATE j keeps its ``topk`` largest weights. ``alpha`` < 1 flattens the walk's transition
  probabilities, ``beta`` > 0 divides by the candidate's popularity (deg(j) = its users) and so
  lifts the long tail. Computed in blocks of candidates, so memory is bounded by the block, not
  by the catalogue (a 1M-item shop works as the cosine table does).
- ``ease``: the closed-form ridge item-item model (Steck 2019, "Embarrassingly shallow
  autoencoders"): ``P = (X^T X + lambda I)^-1``, ``W[i, j] = -P[i, j] / P[j, j]``, ``W[i, i] = 0``;
  each source row keeps its ``topk`` largest positive weights. It inverts a dense
  items x items matrix, so it is only built below ``ease_max_items``
  (``offline.model.neighbour_choice`` logs and records the reason when it is skipped).

Every model prunes per CANDIDATE (column of ``W``), as item-kNN does: each candidate is judged by
its own strongest sources. The textbook RP3beta prunes per source row instead; on Online
Retail's validation slice (towers fixed) that scored below cosine in every one of 24 settings
(hybrid NDCG@10 0.1129-0.1153 vs 0.1181), per-candidate pruning above it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

COSINE, RP3BETA, EASE = "cosine", "rp3beta", "ease"
MODELS = (COSINE, RP3BETA, EASE)
#: fields a run's record holds beside the model and its parameters (neighbour_choice.py)
_REPORT_FIELDS = ("chosen_on", "validation", "skipped")
_PARAMS = {COSINE: {"neighbours"}, RP3BETA: {"alpha", "beta", "topk"}, EASE: {"lambda", "topk"}}
#: candidates per block of the rp3beta product (bounded memory on large catalogues)
_BLOCK = 2048


@dataclass(frozen=True)
class NeighbourModel:
    """One item-item model and its parameters (``params``: cosine ``neighbours``; rp3beta
    ``alpha``, ``beta``, ``topk``; ease ``lambda``, ``topk``)."""

    kind: str = COSINE
    params: dict = field(default_factory=lambda: {"neighbours": 20})

    def __post_init__(self) -> None:
        if self.kind not in MODELS:
            raise ValueError(f"neighbour model: {self.kind!r} not known; choose from {list(MODELS)}")
        need = _PARAMS[self.kind]
        if set(self.params) != need:
            raise ValueError(
                f"neighbour model {self.kind}: parameters must be {sorted(need)}, got {sorted(self.params)}"
            )

    def record(self) -> dict:
        """The manifest / run.json form: ``{"model": kind, **params}``."""
        return {"model": self.kind, **self.params}

    @classmethod
    def from_record(cls, block: dict | None, neighbours: int = 20) -> NeighbourModel:
        """The inverse of ``record`` (report fields beside it -- ``chosen_on``, ``validation``,
        ``skipped`` -- ignored); None (a bundle from before the choice) is cosine with the hybrid
        block's ``neighbours``."""
        if not block:
            return cls(COSINE, {"neighbours": int(neighbours)})
        params = {k: v for k, v in block.items() if k not in ("model", *_REPORT_FIELDS)}
        return cls(str(block["model"]), params)

    def label(self) -> str:
        return self.kind + "(" + ", ".join(f"{k}={v:g}" for k, v in self.params.items()) + ")"


def binary_matrix(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> sparse.csr_matrix:
    """users x items, 1 where the user has the item (duplicates count once)."""
    m = sparse.csr_matrix(
        (np.ones(len(users)), (np.asarray(users, np.int64), np.asarray(items, np.int64))),
        shape=(n_users, n_items),
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def item_weights(binary: sparse.csr_matrix, model: NeighbourModel) -> sparse.csr_matrix:
    """``W`` (items x items, row = source item) of ``model`` on the binary user x item matrix."""
    p = model.params
    if model.kind == COSINE:
        from offline.baselines.itemknn import cosine_neighbours

        # cosine_neighbours: row j = candidate j's neighbours i with sim(j, i) -> by source i
        return cosine_neighbours(binary, int(p["neighbours"])).T.tocsr()
    if model.kind == RP3BETA:
        return rp3beta_weights(binary, float(p["alpha"]), float(p["beta"]), int(p["topk"]))
    return ease_weights(binary, float(p["lambda"]), int(p["topk"]))


def rp3beta_weights(binary: sparse.csr_matrix, alpha: float, beta: float, topk: int) -> sparse.csr_matrix:
    """RP3beta's ``W`` (see the module docstring): candidate j (column) keeps its ``topk`` largest
    weights (ties: the smaller source row), zero diagonal, items without users stay empty."""
    if not alpha > 0 or beta < 0 or topk < 1:
        raise ValueError(f"rp3beta: need alpha > 0, beta >= 0, topk >= 1; got {alpha!r}, {beta!r}, {topk!r}")
    x = sparse.csr_matrix(binary, dtype=np.float64)
    n_items = x.shape[1]
    deg_u = np.asarray(x.sum(axis=1)).ravel()
    deg_i = np.asarray(x.sum(axis=0)).ravel()
    # W[i, j] = sum_u a[u, i] * b[u, j]: a = item -> user step X[u, i] / deg(i), b = user -> item
    # step X[u, j] / deg(u), both ** alpha, then b's column j divided by deg(j) ** beta
    a = (x @ sparse.diags(_inv(deg_i) ** alpha)).tocsc()
    b_t = (sparse.diags(_inv(deg_u) ** alpha) @ x @ sparse.diags(_inv(deg_i) ** beta)).T.tocsr()
    blocks = []
    for start in range(0, n_items, _BLOCK):
        stop = min(start + _BLOCK, n_items)
        w_t = (b_t[start:stop] @ a).tocoo()  # rows: candidates start..stop, columns: sources
        off = w_t.row + start != w_t.col  # zero diagonal
        cand, src, val = _top_per_row(w_t.row[off] + start, w_t.col[off], w_t.data[off], topk, n_items)
        blocks.append((src, cand, val))
    return _stack(blocks, n_items)


def ease_weights(binary: sparse.csr_matrix, lam: float, topk: int) -> sparse.csr_matrix:
    """EASE's ``W`` (see the module docstring), pruned to each candidate's ``topk`` largest
    positive weights (ties: the smaller source row). Dense items x items: the caller checks the
    catalogue size first."""
    if not lam > 0 or topk < 1:
        raise ValueError(f"ease: need lambda > 0, topk >= 1; got {lam!r}, {topk!r}")
    x = sparse.csr_matrix(binary, dtype=np.float64)
    n_items = x.shape[1]
    g = (x.T @ x).toarray()
    g[np.diag_indices(n_items)] += lam
    p = np.linalg.inv(g)
    w = -p / np.diag(p)[None, :]
    w[np.diag_indices(n_items)] = 0.0
    src, cand = np.nonzero(w > 0)
    cand, src, val = _top_per_row(cand, src, w[src, cand], topk, n_items)  # per candidate
    return _stack([(src, cand, val)], n_items)


def _inv(v: np.ndarray) -> np.ndarray:
    out = np.zeros_like(v, dtype=np.float64)
    np.divide(1.0, v, out=out, where=v > 0)
    return out


def _top_per_row(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, k: int, n: int):
    """(rows, cols, vals) keeping each row's ``k`` largest values (ties: the smaller column)."""
    if len(rows) == 0:
        return rows, cols, vals
    order = np.lexsort((cols, -vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    first = np.searchsorted(rows, rows, side="left")  # rows are sorted: rank = position - first
    keep = (np.arange(len(rows)) - first) < k
    return rows[keep], cols[keep], vals[keep]


def _stack(parts, n: int) -> sparse.csr_matrix:
    rows = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    cols = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    vals = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0)
    w = sparse.csr_matrix((vals, (rows, cols)), shape=(n, n))
    w.sort_indices()
    return w
