"""What Recommend derives from a stored user row and the catalogue, kept per row and snapshot.

A warm Recommend maps the user's bought, cancelled, disliked and ignored item ids to catalogue
rows (a heavy buyer has thousands) and sums the neighbours of the user's neighbour-source rows
(the bought rows, or on a multi-behaviour bundle also the recent positive items:
fulcrum/core/neighbour_source.py) over the whole catalogue, then z-scores them
(``Catalogue.user_prior``). None of that depends on the
request: only on the stored profile and the catalogue snapshot. ``ProfileRowsCache`` keeps it.

Keys, so that nothing stale can be served:

- the stored ``UserProfile`` **object** (identity, with a strong reference in the entry so its id
  cannot be reused while the entry lives). The feature client hands out the same object only
  while the user's stored bytes are unchanged (online/features/user_cache.py: any write -- Kafka
  ingest, IngestEvents, Feast materialisation, ForgetUser -- changes the bytes and so gives a new
  object); ``InMemoryFeatures`` replaces the object on every change. A source that builds a new
  object per read just never hits.
- the catalogue snapshot (identity): an upsert or a reload makes a new snapshot and empties the
  cache; the live purchase / impression counts (updated in place) are not used here.
- the ignored-impressions threshold (a serve setting; part of the key all the same).

Bounded by entries and by the bytes of the arrays held (LRU). Used on the event-loop thread only
(Recommend's pipeline, ForgetUser after its erasure), so it takes no lock. Arrays handed out are read-only.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from prometheus_client import Counter

from fulcrum.core.bundle.catalogue import Catalogue
from fulcrum.core.hybrid import HybridPrior
from fulcrum.core.neighbour_source import PURCHASES, profile_sources
from fulcrum.core.profile import UserProfile

LOOKUPS = Counter(
    "fulcrum_profile_rows_cache_total",
    "Recommend's per-user derived rows (bought / blocked rows, neighbour term) by result",
    ["result"],
)
_HIT = LOOKUPS.labels("hit")
_MISS = LOOKUPS.labels("miss")


@dataclass(frozen=True)
class ProfileRows:
    """One stored profile's rows in one snapshot: ``bought`` (sorted, unique), ``others`` (the
    cancelled, disliked and ignored-past-threshold rows: sorted, unique), the hybrid ``prior``
    (None when the catalogue has no active hybrid weights), ``sources``, the neighbour term's
    source rows (sorted, unique; ``bought`` itself under the purchases source) and ``own``, the
    repeat term's rows and values (``Catalogue.own_of``: fulcrum/core/repeat_term.py; None
    without a repeat weight) that the ANN pool scores."""

    profile: UserProfile
    threshold: int
    bought: np.ndarray
    others: np.ndarray
    prior: HybridPrior | None
    sources: np.ndarray
    own: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def nbytes(self) -> int:
        n = self.bought.nbytes + self.others.nbytes
        if self.sources is not self.bought:
            n += self.sources.nbytes
        if self.prior is not None:  # the trend term is the snapshot's, shared
            n += sum(a.nbytes for a in (self.prior.neighbour, self.prior.repeat) if a is not None)
        if self.own is not None:
            n += self.own[0].nbytes + self.own[1].nbytes
        return n


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def derive(cat: Catalogue, profile: UserProfile, ignored_threshold: int) -> ProfileRows:
    """``ProfileRows`` computed afresh (what a cache hit returns, bit for bit)."""
    bought = cat.rows_of(profile.bought)
    ignored = [item for item, shown in profile.ignored.items() if shown >= ignored_threshold]
    others = cat.rows_of([*profile.cancelled, *profile.disliked, *ignored])
    source = cat.hybrid.neighbour_source
    sources = bought if source == PURCHASES else cat.rows_of(profile_sources(profile, source))
    prior = own = None
    if cat.hybrid.repeat > 0:
        own = cat.own_of(profile)
        own = (_frozen(own[0]), _frozen(own[1]))
    if cat.hybrid.active and not cat.ann_active:  # the ANN path scores its pool sparsely
        p = cat.user_prior(sources, own)
        frozen = [None if a is None else _frozen(a) for a in (p.neighbour, p.repeat)]
        prior = HybridPrior(frozen[0], p.trend, frozen[1])
    bought = _frozen(bought)
    return ProfileRows(profile, int(ignored_threshold), bought, _frozen(others), prior,
                       bought if sources is bought else _frozen(sources), own)


class ProfileRowsCache:
    """(profile object, snapshot, threshold) -> ``ProfileRows``; LRU by entries and bytes."""

    def __init__(self, max_entries: int = 4096, max_bytes: int = 64 * 2**20) -> None:
        if max_entries < 0 or max_bytes < 0:
            raise ValueError(f"profile rows cache bounds must be >= 0, got {max_entries} / {max_bytes} B")
        self.max_entries = int(max_entries)
        self.max_bytes = int(max_bytes)
        self._entries: OrderedDict[int, ProfileRows] = OrderedDict()
        self._bytes = 0
        self._snapshot: weakref.ref | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0

    def forget_user(self, user_id: str) -> None:
        """Drop every entry of ``user_id`` at once (ForgetUser), not when the LRU gets to it."""
        for key in [k for k, e in self._entries.items() if e.profile.user_id == user_id]:
            self._bytes -= self._entries.pop(key).nbytes

    def get(self, cat: Catalogue, profile: UserProfile, ignored_threshold: int) -> ProfileRows:
        """The rows of ``profile`` in ``cat``: cached when this very object was seen in this very
        snapshot with this threshold, else derived (and kept)."""
        if self._snapshot is None or self._snapshot() is not cat:
            self.clear()  # a new snapshot (upsert, reload): every entry was for the old one
            self._snapshot = weakref.ref(cat)
        key = id(profile)
        entry = self._entries.get(key)
        if entry is not None and entry.profile is profile and entry.threshold == ignored_threshold:
            self._entries.move_to_end(key)
            _HIT.inc()
            return entry
        _MISS.inc()
        entry = derive(cat, profile, ignored_threshold)
        size = entry.nbytes
        if self.max_entries > 0 and size <= self.max_bytes:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._entries[key] = entry
            self._bytes += size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= dropped.nbytes
        return entry
