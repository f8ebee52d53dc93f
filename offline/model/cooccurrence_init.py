"""Co-purchase-informed start for the item id residuals: truncated SVD of the user x item
purchase matrix (log-scaled counts, columns L2-normalised so popular items do not dominate).

The item factors ``V * sqrt(S)`` are rescaled to a mean row norm of ``scale`` and used as the
initial id residuals (``retrieval.id_init = "svd"``); training then moves them like any weight.
Only purchases before the validation start are used (no leakage into the validation weeks).
"""

from __future__ import annotations

import numpy as np


def svd_item_factors(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int, dim: int,
                     scale: float, seed: int = 0) -> np.ndarray:
    """[n_items, dim] float32; rows of items without purchases are zero."""
    from scipy import sparse
    from scipy.sparse.linalg import svds

    out = np.zeros((n_items, dim), dtype=np.float32)
    if len(items) == 0:
        return out
    m = sparse.coo_matrix((np.ones(len(items)), (users, items)), shape=(n_users, n_items)).tocsr()
    m.sum_duplicates()
    m.data = np.log1p(m.data)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(0)).ravel())
    m = m @ sparse.diags(1.0 / np.maximum(norms, 1e-12))
    k = max(1, min(dim, min(m.shape) - 1))
    rng = np.random.default_rng(seed)
    u, s, vt = svds(m.astype(np.float64), k=k, v0=rng.standard_normal(min(m.shape)))
    factors = (vt.T * np.sqrt(s)[None, :]).astype(np.float32)
    used = norms > 0
    mean_norm = float(np.linalg.norm(factors[used], axis=1).mean()) if used.any() else 1.0
    out[:, :k] = factors * (scale / max(mean_norm, 1e-12))
    out[~used] = 0.0
    return out
