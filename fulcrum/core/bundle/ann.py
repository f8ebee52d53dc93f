"""The live catalogue's ANN parts: the bundle's faiss indexes, loaded once and grown by upserts.

- ``AnnSettings``: when the index serves (``min_items``), how wide it searches (``ef_search``)
  and how many candidates it hands to the exact re-score (``pool``); validated by ServeConfig.
- ``LockedIndex``: one faiss index behind a lock (faiss forbids an ``add`` concurrent with a
  ``search``; a search of a few hundred rows takes well under a millisecond, so the lock is never
  held long). Rows past a snapshot's length (added by a newer snapshot) are dropped by the caller.
- ``Moments``: sum and sum of outer products of the catalogue's item vectors: the mean and
  standard deviation of a user's cosine over the WHOLE catalogue in O(D^2) (mean = u . sum / N,
  E[c^2] = u^T S u / N), so the hybrid score's z-scaling (fulcrum/core/hybrid.py) is the exact
  catalogue-wide one while only the candidate pool is scored.
- ``AnnParts``: all of it, per snapshot (frozen; the indexes are shared by the snapshots, which
  only ever append rows), plus the rows whose index vector is out of date (an upsert replaced
  the vector of an existing row: HNSW cannot move a node) -- scored exactly on every request.
- ``load_ann``: the indexes the manifest's ``ann`` block lists (sha256-verified with the bundle),
  checked against the catalogue's row count and dimensions.
- ``ann_grown``: the parts of a snapshot grown by an upsert: new rows are added to the indexes
  (O(log N) each, no rebuild), changed rows update the moments and join the stale rows.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fulcrum.core import ann_index

if TYPE_CHECKING:
    from fulcrum.core.bundle.catalogue import Catalogue

log = logging.getLogger(__name__)

#: the moments are accumulated over blocks of this many rows (bounded float64 temporaries)
_BLOCK = 1 << 16


@dataclass(frozen=True)
class AnnSettings:
    min_items: int = 50_000
    ef_search: int = 256
    pool: int = 400

    def __post_init__(self) -> None:
        for name, lo in (("min_items", 1), ("ef_search", 16), ("pool", 1)):
            v = getattr(self, name)
            if not isinstance(v, int) or v < lo:
                raise ValueError(f"ann_{name}: must be an integer >= {lo}, got {v!r}")


class LockedIndex:
    def __init__(self, index: Any) -> None:
        self._index = index
        self._lock = threading.Lock()
        self._faiss = ann_index.faiss_module()

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    def search(self, vector: np.ndarray, k: int, ef_search: int) -> np.ndarray:
        """Rows of the ``k`` nearest vectors by inner product, best first (no -1 padding)."""
        params = self._faiss.SearchParametersHNSW()
        params.efSearch = int(max(ef_search, k))
        q = np.ascontiguousarray(np.asarray(vector, dtype=np.float32).reshape(1, -1))
        with self._lock:
            _, ids = self._index.search(q, int(k), params=params)
        rows = ids[0]
        return rows[rows >= 0].astype(np.int64)

    def add(self, vectors: np.ndarray, first_row: int) -> bool:
        """Append rows ``first_row..``; False (nothing added) when the index does not end at
        ``first_row`` (a snapshot that is not the newest grew: its rows would be misnumbered)."""
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        with self._lock:
            if self._index.ntotal != first_row:
                return False
            if len(x):
                self._index.add(x)
            return True


@dataclass(frozen=True)
class Moments:
    n: int
    total: np.ndarray  # float64 [D]
    outer: np.ndarray  # float64 [D, D]

    @classmethod
    def of(cls, vectors: np.ndarray) -> Moments:
        d = vectors.shape[1]
        total, outer = np.zeros(d), np.zeros((d, d))
        for lo in range(0, len(vectors), _BLOCK):
            block = np.asarray(vectors[lo : lo + _BLOCK], dtype=np.float64)
            total += block.sum(axis=0)
            outer += block.T @ block
        return cls(len(vectors), total, outer)

    def changed(self, added: np.ndarray, removed: np.ndarray) -> Moments:
        """The moments with the rows ``added`` in and the rows ``removed`` out."""
        a = np.asarray(added, dtype=np.float64).reshape(-1, len(self.total))
        r = np.asarray(removed, dtype=np.float64).reshape(-1, len(self.total))
        return Moments(
            self.n + len(a) - len(r),
            self.total + a.sum(axis=0) - r.sum(axis=0),
            self.outer + a.T @ a - r.T @ r,
        )

    def cosine_stats(self, u: np.ndarray) -> tuple[float, float]:
        """(mean, population std) of ``vectors @ u`` over all rows."""
        if self.n <= 0:
            return 0.0, 0.0
        u64 = np.asarray(u, dtype=np.float64)
        mean = float(self.total @ u64) / self.n
        second = float(u64 @ self.outer @ u64) / self.n
        return mean, float(np.sqrt(max(second - mean * mean, 0.0)))


@dataclass(frozen=True)
class AnnParts:
    settings: AnnSettings
    recommend: LockedIndex
    #: Search's index; None: Search's vectors are the item embeddings (``recommend`` serves both)
    search: LockedIndex | None
    moments: Moments
    stale: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))
    stale_search: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))
    #: the rows of the highest trend prior (the hybrid's trend part may lift them without the
    #: cosine: they always join the pool); None without a trend
    trend_top: np.ndarray | None = None

    def search_index(self) -> LockedIndex:
        return self.recommend if self.search is None else self.search


def load_ann(path: Path, manifest: Mapping[str, Any], files: Collection[str], cat: Catalogue,
             settings: AnnSettings) -> AnnParts | None:
    """The bundle's ANN parts (None when the manifest lists no index: exact search; a warning when
    the catalogue is big enough to want one). Raises ValueError on an index that does not match."""
    block = manifest.get(ann_index.MANIFEST_KEY)
    if not isinstance(block, Mapping) or ann_index.RECOMMEND_FILE not in files:
        if len(cat) >= settings.min_items:
            log.warning(
                "bundle %s: %d items >= ann_min_items %d but no %s: exact retrieval over the whole "
                "catalogue per request (re-export the run with this version to ship the index)",
                path, len(cat), settings.min_items, ann_index.RECOMMEND_FILE,
            )
        return None
    ann_index.faiss_module().omp_set_num_threads(1)  # one query at a time: no OpenMP spinning
    recommend = LockedIndex(ann_index.load(Path(path) / ann_index.RECOMMEND_FILE))
    _check(recommend, ann_index.RECOMMEND_FILE, len(cat), cat.dim)
    search = None
    if cat.search_embeddings is not cat.embeddings:
        if ann_index.SEARCH_FILE not in files:
            raise ValueError(
                f"{ann_index.RECOMMEND_FILE} is listed but Search's vectors have no {ann_index.SEARCH_FILE}"
            )
        search = LockedIndex(ann_index.load(Path(path) / ann_index.SEARCH_FILE))
        _check(search, ann_index.SEARCH_FILE, len(cat), int(cat.search_embeddings.shape[1]))
    return ann_parts(cat, recommend, search, settings)


def ann_parts(
    cat: Catalogue, recommend: LockedIndex, search: LockedIndex | None, settings: AnnSettings
) -> AnnParts:
    """The parts of a catalogue whose rows the indexes hold (moments and top-trend rows computed
    once, here, at load)."""
    trend_top = None
    if cat.trend is not None and len(cat.trend):
        k = min(settings.pool, len(cat.trend))
        trend_top = np.argpartition(-np.asarray(cat.trend, np.float64), k - 1)[:k].astype(np.int64)
    return AnnParts(settings, recommend, search, Moments.of(cat.embeddings), trend_top=trend_top)


def _check(index: LockedIndex, name: str, rows: int, dim: int) -> None:
    if index.ntotal != rows or index.dim != dim:
        raise ValueError(
            f"{name} holds {index.ntotal} vectors of dim {index.dim}, the catalogue {rows} of dim {dim}"
        )


def ann_grown(old: Catalogue, new: Catalogue, rows: Sequence[int]) -> Catalogue:
    """``new`` (``old`` after an upsert touching catalogue ``rows``) with its ANN parts grown."""
    parts = old.ann
    if parts is None:
        return new
    n_old, n_new = len(old), len(new)
    added = parts.recommend.add(new.embeddings[n_old:n_new], n_old)
    if added and parts.search is not None:
        added = parts.search.add(new.search_embeddings[n_old:n_new], n_old)
    if not added:
        log.warning(
            "an older catalogue snapshot (%d rows) grew while the ANN index holds %d: this snapshot "
            "uses exact retrieval", n_old, parts.recommend.ntotal,
        )
        return dataclasses.replace(new, ann=None)
    old_rows = np.unique(np.asarray([r for r in rows if r < n_old], dtype=np.int64))
    moved = old_rows[np.any(new.embeddings[old_rows] != old.embeddings[old_rows], axis=1)]
    moments = parts.moments.changed(
        np.concatenate([new.embeddings[n_old:n_new], new.embeddings[moved]]), old.embeddings[moved]
    )
    stale, stale_search = parts.stale, parts.stale_search
    if len(moved):
        stale = np.union1d(stale, moved)
    if parts.search is not None:
        s_old, s_new = old.search_embeddings, new.search_embeddings
        s_moved = old_rows[np.any(s_new[old_rows] != s_old[old_rows], axis=1)]
        if len(s_moved):
            stale_search = np.union1d(stale_search, s_moved)
    elif len(moved):
        stale_search = stale
    grown = dataclasses.replace(parts, moments=moments, stale=stale, stale_search=stale_search)
    return dataclasses.replace(new, ann=grown)
