"""Candidate retrieval by dot product over the live catalogue (NumPy, exact).

Exact search is right for catalogues up to ~10^5-10^6 items on CPU; a faiss index would slot in
behind ``top_candidates`` for larger ones (not needed for the embedded default).
"""

from __future__ import annotations

import numpy as np

from fulcrum.core.blocked_rows import BlockedRows


def blocked_mask(n: int, rows: np.ndarray) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    if len(rows):
        mask[rows] = True
    return mask


def top_candidates(
    scores: np.ndarray, n: int, blocked: np.ndarray | BlockedRows | None = None
) -> np.ndarray:
    """Row indices of the ``n`` best non-blocked scores, best first (argpartition, then sort).
    ``blocked``: a bool mask or ``BlockedRows`` (fulcrum/core/blocked_rows.py)."""
    neg = np.negative(scores, dtype=np.float64)  # one pass: float64 copy, best = smallest
    if isinstance(blocked, BlockedRows):
        neg[blocked.rows] = np.inf
    elif blocked is not None:
        neg[blocked] = np.inf
    n = min(n, int(np.count_nonzero(np.isfinite(neg))))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    if n < len(neg):
        part = np.argpartition(neg, n - 1)[:n]
    else:
        part = np.arange(len(neg))
    part = part[np.isfinite(neg[part])]
    return part[np.argsort(neg[part], kind="stable")].astype(np.int64)
