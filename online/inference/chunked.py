"""Embedding many item texts with bounded memory: at most ``EMBED_CHUNK`` texts per encoder call.

An ONNX Runtime call's working memory (token ids, attention masks, every layer's activations)
grows with the number of texts in it: 10,000 ITEM_UPSERT texts in one call take about the whole
1.5 GiB of an ingest pod. ``embed_chunked`` runs the encoder on slices of at most ``chunk`` texts
and writes each slice's vectors into one preallocated ``(n, d)`` float32 array, so the peak is
one chunk's activations plus the result. Every path that embeds upserted items goes through it:
the ingest sink (online/ingest/factory.py), the server's catalogue sink and catalogue follower
and the replay of upserts after a reload (``ServingModel.embed_items``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

#: texts per encoder call (the issue's bound: <= 256)
EMBED_CHUNK = 256

Encoder = Callable[[list[str]], Sequence[np.ndarray] | np.ndarray]


def chunks(n: int, size: int = EMBED_CHUNK) -> range:
    """Start offsets of the slices of ``n`` items, ``size`` at a time."""
    if size < 1:
        raise ValueError(f"size: must be >= 1, got {size}")
    return range(0, n, size)


def embed_chunked(encoder: Encoder, texts: Sequence[str], dim: int, chunk: int = EMBED_CHUNK) -> np.ndarray:
    """``encoder`` applied to ``texts`` ``chunk`` at a time; returns float32 ``(len(texts), dim)``."""
    if not 1 <= chunk <= EMBED_CHUNK:
        raise ValueError(f"chunk: must be in [1, {EMBED_CHUNK}], got {chunk}")
    out = np.empty((len(texts), dim), dtype=np.float32)
    for start in chunks(len(texts), chunk):
        part = list(texts[start : start + chunk])
        vectors = np.asarray(np.stack(list(encoder(part))) if part else np.zeros((0, dim)), dtype=np.float32)
        if vectors.shape != (len(part), dim):
            raise ValueError(f"the encoder returned shape {vectors.shape} for {len(part)} texts, dim {dim}")
        out[start : start + len(part)] = vectors
    return out
