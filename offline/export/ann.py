"""The bundle's ANN indexes (fulcrum/core/ann_index.py): built at export over the item vectors,
and over Search's vectors when they are another matrix, for catalogues of at least
``min_items`` items; described by the manifest's ``ann`` block, the files sha256-listed like
every other bundle file. A catalogue below ``min_items`` gets no index and the block says so."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from fulcrum.core import ann_index
from fulcrum.core import bundle_format as bf
from fulcrum.core.search import space
from offline.export.errors import ExportError


def search_matrix_file(bundle_dir: Path) -> str:
    """The bundle file Search compares queries with (as ``Catalogue.search_embeddings``)."""
    for name in (space.ITEM_SEARCH_VECTORS, bf.ITEM_TEXT_EMBEDDINGS):
        if (bundle_dir / name).is_file():
            return name
    return bf.ITEM_EMBEDDINGS


def write_ann_indexes(
    bundle_dir: Path,
    min_items: int = ann_index.EXPORT_MIN_ITEMS,
    m: int = ann_index.DEFAULT_M,
    ef_construction: int = ann_index.DEFAULT_EF_CONSTRUCTION,
    threads: int = 0,
) -> dict:
    """Build and write the indexes; returns the manifest's ``ann`` block."""
    items = np.load(bundle_dir / bf.ITEM_EMBEDDINGS, mmap_mode="r")
    n = int(items.shape[0])
    if n < min_items:
        return {"built": False, "items": n, "min_items": int(min_items)}
    started = time.perf_counter()
    indexes = {"recommend": (ann_index.RECOMMEND_FILE, bf.ITEM_EMBEDDINGS)}
    search_file = search_matrix_file(bundle_dir)
    if search_file != bf.ITEM_EMBEDDINGS:
        indexes["search"] = (ann_index.SEARCH_FILE, search_file)
    block: dict = {
        "built": True,
        "library": ann_index.LIBRARY,
        "kind": ann_index.KIND,
        "m": int(m),
        "ef_construction": int(ef_construction),
        "items": n,
        "min_items": int(min_items),
    }
    for role, (file, source) in indexes.items():
        vectors = np.load(bundle_dir / source, mmap_mode="r")
        if vectors.shape[0] != n:
            raise ExportError(f"{source} has {vectors.shape[0]} rows, {bf.ITEM_EMBEDDINGS} {n}")
        t = time.perf_counter()
        index = ann_index.build_hnsw(vectors, m, ef_construction, threads)
        ann_index.save(index, bundle_dir / file)
        if ann_index.load(bundle_dir / file).ntotal != n:
            raise ExportError(f"{file}: the written index does not read back {n} vectors")
        block[role] = {"file": file, "vectors": source, "build_seconds": round(time.perf_counter() - t, 3)}
    block["build_seconds"] = round(time.perf_counter() - started, 3)
    return block
