"""Tail boost: lift long-tail candidates before the final cut (a re-ranking rule, pure NumPy).

relevance' = normalise(relevance) + boost * is_tail, with normalise the min-max map to [0, 1]
(the same as the MMR's, so boost means the same for any scorer). boost = 0 keeps the order;
boost >= 1 puts every tail candidate ahead of every head candidate. Tail = outside the
``HEAD_SHARE`` (20 %) most purchased items, the definition the offline tail-share metric uses.
`fulcrum evaluate --bundle` sweeps boost x MMR weight and reports the accuracy/tail trade-off;
serving applies ``tail_boost`` from its config.
"""

from __future__ import annotations

import math

import numpy as np

HEAD_SHARE = 0.2


def tail_boosted(relevance: np.ndarray, is_tail: np.ndarray, boost: float) -> np.ndarray:
    if boost < 0:
        raise ValueError(f"boost must be >= 0, got {boost}")
    rel = np.asarray(relevance, dtype=np.float64)
    if rel.shape != np.shape(is_tail):
        raise ValueError(f"relevance has shape {rel.shape} but is_tail {np.shape(is_tail)}")
    span = rel.max() - rel.min() if rel.size else 0.0
    norm = np.ones_like(rel) if span <= 0 else (rel - rel.min()) / span
    return norm + boost * np.asarray(is_tail, dtype=np.float64)


def tail_mask(popularity_rank: np.ndarray, purchases: np.ndarray, share: float = HEAD_SHARE) -> np.ndarray:
    """True for items outside the ceil(share x n) most purchased, n = items with a purchase
    (rank 0 = most purchased). Items never purchased are tail."""
    rank = np.asarray(popularity_rank, dtype=np.float64)
    n_head = math.ceil(share * int((np.asarray(purchases) > 0).sum()))
    return ~(rank < n_head)
