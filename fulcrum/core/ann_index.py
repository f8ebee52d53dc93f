"""The approximate nearest-neighbour (ANN) index of a bundle's item vectors: one definition for
export (which builds it), serving (which loads it, searches it and adds upserted items to it),
the scale benchmark and the tests.

Why faiss (``faiss-cpu``), HNSW with inner product over the L2-normalised vectors:

- an HNSW graph takes new vectors one at a time (``add``) without a rebuild or retraining, so an
  ITEM_UPSERT costs O(log N) graph work per item, never O(catalogue); IVF indexes need trained
  centroids that drift as the catalogue grows;
- rows are numbered in insertion order, which is exactly the catalogue's row order (bundle rows
  0..N-1, upserted items appended after them), so no id map is needed;
- recall@100 vs exact search is >= 0.95 at the defaults below (docs/scaling.md has the measured
  figures at 10k / 100k / 1M); the flat storage keeps the exact vectors, so the candidates are
  re-scored exactly by the caller anyway;
- mature, manylinux wheels for every supported Python with only NumPy as a dependency
  (usearch was the alternative: smaller wheel, but its Python binding's thread safety for
  concurrent add and search is not documented, and a lock around faiss is simple).

faiss indexes are not safe for an ``add`` concurrent with a ``search``: serving wraps each index
in a lock (fulcrum/core/bundle/ann.py). The bundle files are faiss's own serialisation, sha256-listed
in the manifest like every other file; the manifest's ``ann`` block says what each index holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: manifest block and bundle files
MANIFEST_KEY = "ann"
RECOMMEND_FILE = "item_ann.faiss"  # over item_embeddings.npy (Recommend's retrieval)
SEARCH_FILE = "search_ann.faiss"  # over Search's vectors, when they are another matrix
LIBRARY = "faiss"
KIND = "hnsw_flat_ip"
#: HNSW graph degree and build breadth: recall@100 >= 0.95 at ef_search 256 (docs/scaling.md)
DEFAULT_M = 32
DEFAULT_EF_CONSTRUCTION = 64
#: export builds the indexes for catalogues of at least this many items (upserts may grow a
#: smaller one past the serving threshold; below this exact search is cheap)
EXPORT_MIN_ITEMS = 10_000


def faiss_module() -> Any:
    try:
        import faiss
    except ImportError as e:
        raise ImportError(
            "the ANN index needs faiss: pip install 'faiss-cpu>=1.8,<2' (in the serve extra)"
        ) from e
    return faiss


def build_hnsw(
    vectors: np.ndarray, m: int = DEFAULT_M, ef_construction: int = DEFAULT_EF_CONSTRUCTION, threads: int = 0
) -> Any:
    """An HNSW inner-product index over ``vectors`` [N, D] (row i = id i). ``threads`` > 0 sets
    faiss's OpenMP threads for the build (0: leave faiss's default)."""
    faiss = faiss_module()
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"ANN index: vectors must be a non-empty [N, D] matrix, got shape {x.shape}")
    if m < 4 or ef_construction < m:
        raise ValueError(f"ANN index: need m >= 4 and ef_construction >= m, got m={m}, ef={ef_construction}")
    if threads > 0:
        faiss.omp_set_num_threads(threads)
    index = faiss.IndexHNSWFlat(int(x.shape[1]), int(m), faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = int(ef_construction)
    for lo in range(0, len(x), 1 << 16):  # bounded temporaries; ids stay in row order
        index.add(x[lo : lo + (1 << 16)])
    return index


def save(index: Any, path: Path) -> None:
    faiss_module().write_index(index, str(path))


def load(path: Path) -> Any:
    return faiss_module().read_index(str(path))


def recall_at(approx: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of each row of ``exact`` (the true top-k ids) found in the same row of
    ``approx`` (ids; -1 = none): recall@k of an ANN search against exact search."""
    if exact.shape[0] == 0 or exact.shape[1] == 0:
        return 1.0
    hits = [len(np.intersect1d(a[a >= 0], e)) / len(e) for a, e in zip(approx, exact, strict=True)]
    return float(np.mean(hits))
