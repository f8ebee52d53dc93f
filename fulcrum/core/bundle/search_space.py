"""Search's dense space at serving time (``fulcrum.core.search.space``): the bundle's pooled
text encoder graph and item vectors, and keeping those vectors current on upserts.

A bundle exported before the search space existed has neither: Search then compares queries
with the item encoder's projected text vectors (``Catalogue.text_embeddings``), which ranks
queries measurably worse -- the loader says so in a warning naming the fix (re-export).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from pathlib import Path

import numpy as np

from fulcrum.core.bundle.encoders import TextEncoder
from fulcrum.core.search import adapter, space, synonyms
from fulcrum.core.search.synonyms import WordNeighbours

log = logging.getLogger(__name__)


def load_search_space(
    path: Path, files: Collection[str], n_items: int, open_model, tokenizer: str, max_length: int
) -> tuple[TextEncoder | None, np.ndarray | None]:
    """(query encoder, item vectors [N, H]) of the bundle, or (None, None) without a search space.
    ``open_model(file) -> OrtModel`` opens a graph like the bundle's others."""
    name = space.encoder_file(files)
    if name is None or space.ITEM_SEARCH_VECTORS not in files:
        log.warning(
            "bundle %s has no search space (%s, %s): Search compares queries with the item "
            "encoder's projected vectors; re-export the run for the pooled search space",
            path, space.SEARCH_ENCODER_INT8, space.ITEM_SEARCH_VECTORS,
        )  # fmt: skip
        return None, None
    vectors = np.load(Path(path) / space.ITEM_SEARCH_VECTORS, allow_pickle=False).astype(np.float32)
    if vectors.ndim != 2 or len(vectors) != n_items:
        raise ValueError(f"{space.ITEM_SEARCH_VECTORS} has shape {vectors.shape}, items {n_items}")
    encoder = TextEncoder(open_model(Path(path) / name), tokenizer, max_length)
    dim = encoder(["warm up"])[0].shape[0]
    if dim != vectors.shape[1]:
        raise ValueError(f"{name} gives dimension {dim}, {space.ITEM_SEARCH_VECTORS} {vectors.shape[1]}")
    return encoder, np.ascontiguousarray(vectors)


def load_word_neighbours(path: Path, files: Collection[str]) -> WordNeighbours | None:
    """The bundle's catalogue-word vectors (``fulcrum.core.search.synonyms``), or None."""
    if synonyms.WORDS_FILE not in files or synonyms.VECTORS_FILE not in files:
        return None
    words = json.loads((Path(path) / synonyms.WORDS_FILE).read_text())
    vectors = np.load(Path(path) / synonyms.VECTORS_FILE, allow_pickle=False)
    return WordNeighbours(words, vectors)


def load_query_adapter(path: Path, files: Collection[str], dim: int | None) -> np.ndarray | None:
    """The bundle's search-log adapter [H, H] (``fulcrum.core.search.adapter``), or None."""
    if adapter.ADAPTER_FILE not in files:
        return None
    w = np.load(Path(path) / adapter.ADAPTER_FILE, allow_pickle=False).astype(np.float32)
    if w.ndim != 2 or w.shape[0] != w.shape[1] or (dim is not None and w.shape[0] != dim):
        raise ValueError(f"{adapter.ADAPTER_FILE} has shape {w.shape}, search space dimension {dim}")
    return w
