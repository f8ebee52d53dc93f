"""Hybrid retrieval score: the two towers plus a co-purchase neighbourhood, a trend prior and a
repeat term.

The one definition both sides use (offline evaluation and online Recommend)::

    hybrid(u, j) = z(cosine(u, j)) + neighbour_weight * z(neighbour(u, j)) + trend_weight * trend[j]
                   + repeat_weight * repeat(u, j)

- ``cosine`` is the two-tower retrieval score (user encoder . item embedding);
- ``neighbour(u, j)`` = sum over the user's source items i of sim(j, i), where sim(j, .) holds
  j's nearest co-occurrence neighbours (cosine of user sets, computed offline) -- item-based
  collaborative filtering; the sum is a sparse gather over the source items. Sources and
  co-occurrence are purchases, or on a multi-behaviour shop positive interactions
  (fulcrum/core/neighbour_source.py, recorded in the manifest);
- ``trend[j]`` is a per-item prior exported with the bundle (standardised log of recent distinct
  buyers, see offline/model/hybrid_fit.py), already on a z scale;
- ``repeat(u, j)`` is > 0 only at the user's OWN items, their neighbour-source items on a
  multi-behaviour shop (bought and recent positive items; people come back to what they looked
  at, and the "repurchase" baseline is the strongest single signal on such shops), 0 elsewhere:
  the indicator (1 at each own item; every bundle without the graded fields) or the graded
  ``log2(1 + recency-decayed, behaviour-weighted count)`` whose shape the manifest records
  (fulcrum/core/repeat_term.py; one fresh view = 1). It is already on the z scale -- the weight
  is the bonus, in standard deviations of the cosine, of an own item seen once -- and is not
  standardised itself: z of a 0/1 vector with k ones among N items is sqrt(N/k - 1) at the ones,
  a bonus that would swing with the size of the user's history. The weight and the shape are
  chosen on validation only under a repeat-allowed protocol and the weight must be 0 with the
  purchases source (a bought item is never a discovery target, and serving excludes it);
- ``z`` standardises a score vector over the whole catalogue (mean 0, std 1; a constant vector
  becomes 0), so the weights mean the same for any catalogue size or score spread.

The weights are chosen offline on the validation slice and written into the bundle's manifest;
weights of 0 give back the plain two-tower order. Everything here is pure NumPy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fulcrum.core import neighbour_source as ns
from fulcrum.core.repeat_term import INDICATOR, RepeatShape, shape_from_manifest

#: bundle file of the neighbour table (npz: indptr, indices, data) and of the trend prior (npy)
NEIGHBOURS_FILE = "item_neighbours.npz"
TREND_FILE = "item_trend.npy"
#: manifest key of the hybrid block
MANIFEST_KEY = "hybrid"


@dataclass(frozen=True)
class HybridWeights:
    """The manifest's hybrid settings: the three weights, which of a user's items feed the
    neighbour and repeat terms (fulcrum/core/neighbour_source.py; the table was built to match)
    and how the repeat term grades them (fulcrum/core/repeat_term.py)."""

    neighbour: float = 0.0
    trend: float = 0.0
    neighbour_source: str = ns.PURCHASES
    repeat: float = 0.0
    repeat_shape: RepeatShape = INDICATOR

    def __post_init__(self) -> None:
        for name in ("neighbour", "trend", "repeat"):
            v = getattr(self, name)
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"hybrid.{name}_weight: must be a finite number >= 0, got {v!r}")
        ns.check_source(self.neighbour_source)
        if self.repeat > 0 and self.neighbour_source != ns.INTERACTIONS:
            raise ValueError(
                f"hybrid.repeat_weight: must be 0 unless hybrid.{ns.MANIFEST_FIELD} is "
                f"{ns.INTERACTIONS} (a bought item is never a discovery target), got {self.repeat!r}"
            )

    @property
    def active(self) -> bool:
        return self.neighbour > 0 or self.trend > 0 or self.repeat > 0


@dataclass(frozen=True)
class NeighbourTable:
    """CSR rows by SOURCE item: row i lists the items j that have i among their neighbours, with
    sim(j, i). A user's neighbour scores are then the sum of the rows of the items they bought."""

    indptr: np.ndarray  # int64 [S + 1]
    indices: np.ndarray  # int64 [nnz] target item rows
    data: np.ndarray  # float32 [nnz] similarities

    def __post_init__(self) -> None:
        if self.indptr.ndim != 1 or len(self.indptr) < 1 or self.indptr[0] != 0:
            raise ValueError("neighbour table: indptr must be 1-D and start at 0")
        if int(self.indptr[-1]) != len(self.indices) or len(self.indices) != len(self.data):
            raise ValueError(
                f"neighbour table: indptr ends at {int(self.indptr[-1])} but there are "
                f"{len(self.indices)} indices and {len(self.data)} values"
            )
        if np.any(np.diff(self.indptr) < 0):
            raise ValueError("neighbour table: indptr must not decrease")

    @property
    def n_sources(self) -> int:
        return len(self.indptr) - 1

    def scores(self, sources: Iterable[int], n_items: int) -> np.ndarray:
        """[n_items] sum of the rows of ``sources`` (rows beyond the table contribute nothing)."""
        out = np.zeros(n_items, dtype=np.float64)
        # an array as is (np.fromiter would walk it element by element, one Python object each)
        if isinstance(sources, np.ndarray):
            rows = sources.astype(np.int64, copy=False)
        else:
            rows = np.fromiter(sources, dtype=np.int64)
        rows = rows[(rows >= 0) & (rows < self.n_sources)]
        if len(rows) == 0:
            return out
        starts = self.indptr[rows]
        lens = self.indptr[rows + 1] - starts
        total = int(lens.sum())
        if total == 0:
            return out
        # the positions of all the rows' entries without a Python loop: start of each row,
        # repeated per entry, plus the entry's offset inside its row
        first = np.cumsum(lens) - lens
        take = np.repeat(starts - first, lens) + np.arange(total)
        idx = self.indices[take]
        keep = idx < n_items
        # bincount adds the same float64 values per bin in the same order as np.add.at into
        # zeros (bit-identical), several times faster (it returns int64 when nothing is kept)
        sums = np.bincount(idx[keep], weights=self.data[take][keep].astype(np.float64), minlength=n_items)
        return sums.astype(np.float64, copy=False)[:n_items]

    def sparse_scores(self, sources: Iterable[int], n_items: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, sums): the non-zero entries of ``scores(sources, n_items)`` -- rows sorted and
        unique, each sum the same float64 additions in the same order -- in O(entries), not
        O(n_items) (the ANN path scores a candidate pool, never the whole catalogue)."""
        rows = np.asarray(list(sources) if not isinstance(sources, np.ndarray) else sources, dtype=np.int64)
        rows = rows[(rows >= 0) & (rows < self.n_sources)]
        starts = self.indptr[rows]
        lens = self.indptr[rows + 1] - starts
        total = int(lens.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        first = np.cumsum(lens) - lens
        take = np.repeat(starts - first, lens) + np.arange(total)
        idx = self.indices[take]
        keep = idx < n_items
        targets, inverse = np.unique(idx[keep], return_inverse=True)
        sums = np.bincount(inverse, weights=self.data[take][keep].astype(np.float64), minlength=len(targets))
        nonzero = sums != 0
        return targets[nonzero].astype(np.int64), sums[nonzero].astype(np.float64)

    def save(self, path: Path) -> None:
        with open(path, "wb") as f:  # a file object: np.savez would append ".npz" to a bare name
            np.savez(f, indptr=self.indptr, indices=self.indices, data=self.data)

    @classmethod
    def load(cls, path: Path) -> NeighbourTable:
        with np.load(path, allow_pickle=False) as z:
            return cls(
                z["indptr"].astype(np.int64), z["indices"].astype(np.int64), z["data"].astype(np.float32)
            )


def repeat_indicator(sources: Iterable[int], n_items: int) -> np.ndarray:
    """[n_items] the indicator repeat term's input: 1.0 at each of the user's source rows (rows
    outside the catalogue ignored), 0.0 elsewhere (the graded term:
    ``fulcrum.core.repeat_term.repeat_vector``)."""
    rows = np.asarray(list(sources) if not isinstance(sources, np.ndarray) else sources, dtype=np.int64)
    out = np.zeros(n_items, dtype=np.float64)
    out[rows[(rows >= 0) & (rows < n_items)]] = 1.0
    return out


def standardise(x: np.ndarray) -> np.ndarray:
    """(x - mean) / std over the finite entries; a constant (or empty) vector becomes zeros."""
    x = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(x)
    if x.size and finite.all():
        # the common case (every live Recommend, over the whole catalogue): no masked copies, and
        # the centred vector computed once; the same operations, in the same order, as
        # mean() / std() run (sum / n, then the mean of the squared deviations), so the result
        # is bit-for-bit the general branch's
        n = x.size
        centred = x - np.add.reduce(x) / n
        sd = np.sqrt(np.add.reduce(centred * centred) / n)
        return np.zeros_like(x) if sd <= 0 else centred / sd
    if not finite.any():
        return np.zeros_like(x)
    mu = x[finite].mean()
    sd = x[finite].std()
    if sd <= 0:
        return np.where(finite, 0.0, x)
    return (x - mu) / sd


@dataclass(frozen=True)
class HybridPrior:
    """The parts of the hybrid score that do not depend on the user vector: ``neighbour_weight x
    z(neighbour)`` (per user: their source items), ``trend_weight x trend`` (per catalogue) and
    ``repeat_weight x repeat`` (per user). Each is None when its weight is 0 or its input is
    missing. Serving computes them once per (user row, catalogue snapshot) instead of once per
    request (online/server/profile_rows.py)."""

    neighbour: np.ndarray | None = None
    trend: np.ndarray | None = None
    repeat: np.ndarray | None = None


def hybrid_prior(
    neighbour: np.ndarray | None, trend: np.ndarray | None, weights: HybridWeights,
    repeat: np.ndarray | None = None,
) -> HybridPrior:
    """``HybridPrior`` of these inputs (the same operations ``hybrid_scores`` runs on them);
    ``repeat``: the repeat term's input over the catalogue (``repeat_term.repeat_vector`` of the
    user's own rows, or ``repeat_indicator`` of their sources for an indicator bundle)."""
    if not weights.active:
        return HybridPrior()
    n = t = r = None
    if weights.neighbour > 0 and neighbour is not None:
        n = weights.neighbour * standardise(neighbour)
    if weights.trend > 0 and trend is not None:
        t = weights.trend * np.asarray(trend, dtype=np.float64)
    if weights.repeat > 0 and repeat is not None:
        r = weights.repeat * np.asarray(repeat, dtype=np.float64)
    return HybridPrior(n, t, r)


def hybrid_with_prior(retrieval: np.ndarray, prior: HybridPrior, weights: HybridWeights) -> np.ndarray:
    """``hybrid_scores`` given its prior terms: z(retrieval) + neighbour term, + trend term, then
    + repeat term (the same additions in the same order, so the result is bit-for-bit ``hybrid_scores``)."""
    r = np.asarray(retrieval, dtype=np.float64)
    if not weights.active:
        return r
    out = standardise(r)
    if prior.neighbour is not None:
        out = out + prior.neighbour
    if prior.trend is not None:
        out = out + prior.trend
    if prior.repeat is not None:
        out = out + prior.repeat
    return out


def hybrid_scores(
    retrieval: np.ndarray,
    neighbour: np.ndarray | None,
    trend: np.ndarray | None,
    weights: HybridWeights,
    repeat: np.ndarray | None = None,
) -> np.ndarray:
    """The hybrid score per item (same length as ``retrieval``); inactive weights return the
    retrieval scores unchanged (so the plain two-tower path keeps its cosine scale)."""
    return hybrid_with_prior(retrieval, hybrid_prior(neighbour, trend, weights, repeat), weights)


def _z(x: np.ndarray, mean: float, sd: float) -> np.ndarray:
    return np.zeros(len(x)) if sd <= 0 else (np.asarray(x, dtype=np.float64) - mean) / sd


def hybrid_weights_parts(
    retrieval: np.ndarray,
    retrieval_stats: tuple[float, float],
    neighbour: np.ndarray | None,
    neighbour_stats: tuple[float, float],
    trend: np.ndarray | None,
    weights: HybridWeights,
    repeat: np.ndarray | None = None,
) -> np.ndarray:
    """``hybrid_scores`` of SOME rows, given the (mean, population std) of the retrieval and
    neighbour vectors over the whole catalogue: the same numbers (up to float rounding) as the
    whole-catalogue call at those rows. Inactive weights return the retrieval scores."""
    r = np.asarray(retrieval, dtype=np.float64)
    if not weights.active:
        return r
    out = _z(r, *retrieval_stats)
    if weights.neighbour > 0 and neighbour is not None:
        out = out + weights.neighbour * _z(neighbour, *neighbour_stats)
    if weights.trend > 0 and trend is not None:
        out = out + weights.trend * np.asarray(trend, dtype=np.float64)
    if weights.repeat > 0 and repeat is not None:
        out = out + weights.repeat * np.asarray(repeat, dtype=np.float64)
    return out


def weights_from_manifest(raw: Mapping[str, object]) -> HybridWeights:
    """The manifest's ``hybrid`` block -> weights, neighbour source and repeat shape (no block =
    inactive; no ``repeat_weight``, as in every bundle before the repeat term: 0; no
    ``repeat_half_life_days``, as in every bundle before the graded term: the indicator)."""
    block = raw.get(MANIFEST_KEY)
    if not isinstance(block, Mapping):
        return HybridWeights()
    return HybridWeights(
        float(block.get("neighbour_weight", 0.0)),  # type: ignore[arg-type]
        float(block.get("trend_weight", 0.0)),  # type: ignore[arg-type]
        ns.source_from_manifest(block),
        float(block.get("repeat_weight", 0.0)),  # type: ignore[arg-type]
        shape_from_manifest(block),
    )
