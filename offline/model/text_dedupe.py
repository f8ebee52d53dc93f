"""Encode each distinct item text once.

Catalogues repeat texts: a shop without item text gets its text assembled from a few columns
(the Taobao sample: the category only, 55k items over a few thousand distinct texts), variants
share a title. The encoder's output depends only on its input (token ids and mask), so every
stage that runs BERT over the catalogue (the training text stage, the export's fallback pooling,
the zero-shot baseline) encodes the distinct inputs and maps the result back to the items.
"""

from __future__ import annotations

import numpy as np


def distinct_rows(ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first row of each distinct (ids, mask) input [K], the distinct input of every row [N]):
    ``x[first]`` holds each distinct input once, in order of first appearance, and
    ``encoded[inverse]`` gives every row its encoding back."""
    ids, mask = np.asarray(ids), np.asarray(mask)
    if len(ids) != len(mask):
        raise ValueError(f"distinct_rows: {len(ids)} id rows but {len(mask)} mask rows")
    if len(ids) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    keys = np.concatenate([ids.astype(np.int64), mask.astype(np.int64)], axis=1)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    order = np.argsort(first, kind="stable")  # distinct inputs in order of first appearance
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return first[order].astype(np.int64), rank[inverse]


def distinct_texts(texts: list[str]) -> tuple[list[str], np.ndarray]:
    """(each distinct text once, in order of first appearance; the distinct text of every
    position [N]): ``encoded[inverse]`` maps back."""
    index: dict[str, int] = {}
    inverse = np.fromiter((index.setdefault(t, len(index)) for t in texts), dtype=np.int64, count=len(texts))
    return list(index), inverse
