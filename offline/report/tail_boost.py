"""Tail boost: lift long-tail candidates before the final cut.

relevance' = normalise(relevance) + boost * is_tail, with normalise the min-max map to [0, 1]
(the same as the online MMR's, so boost means the same for any scorer). boost = 0 keeps the
order; boost >= 1 puts every tail candidate ahead of every head candidate.
"""

from __future__ import annotations

import numpy as np


def tail_boosted(relevance: np.ndarray, is_tail: np.ndarray, boost: float) -> np.ndarray:
    if boost < 0:
        raise ValueError(f"boost must be >= 0, got {boost}")
    rel = np.asarray(relevance, dtype=np.float64)
    if rel.shape != np.shape(is_tail):
        raise ValueError(f"relevance has shape {rel.shape} but is_tail {np.shape(is_tail)}")
    span = rel.max() - rel.min() if rel.size else 0.0
    norm = np.ones_like(rel) if span <= 0 else (rel - rel.min()) / span
    return norm + boost * np.asarray(is_tail, dtype=np.float64)
