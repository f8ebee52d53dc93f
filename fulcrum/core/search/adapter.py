"""The query-side adapter learnt from a shop's search log (``fulcrum learn-search-log``).

A square matrix ``W`` [H, H] in ``search_query_adapter.npy``: Search uses ``normalize(W q)``
for the encoded query ``q`` (item vectors are unchanged), so what shoppers typed before pulls
toward what they then clicked or bought. Identity = no change.
"""

from __future__ import annotations

import numpy as np

ADAPTER_FILE = "search_query_adapter.npy"
MANIFEST_KEY = "search_query_adapter"


def adapt(query_vec: np.ndarray, adapter: np.ndarray | None) -> np.ndarray:
    if adapter is None:
        return query_vec
    out = adapter @ np.asarray(query_vec, dtype=adapter.dtype)
    return (out / max(float(np.linalg.norm(out)), 1e-12)).astype(np.float32)
