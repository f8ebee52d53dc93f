"""The user tower's output, reused for ``user_vector_reuse_ms`` after it was computed.

A warm Recommend runs the ONNX user tower on the user's history: the item embeddings of the
last events, their types and their ages in days at request time (``now`` minus each event's
time). Everything but the ages depends only on the stored user row, the request's session items
and the catalogue snapshot; the ages move with the clock. So a vector computed at ``t0`` is the
exact tower output for the request's inputs with every event age shifted by ``now - t0``, and
this cache hands it out only while ``0 <= now - t0 <= reuse_s``. The tolerance it introduces is
therefore "the tower at an instant at most ``reuse_s`` earlier": with the default 1 s, on the
demo bundle, the largest change of any cosine over the catalogue is ~5e-7 (the user tower's age
features are smooth: log1p(age) and decays over 1 to 180 days; docs/scaling.md has the measurement).
``user_vector_reuse_ms: 0`` turns it off (every request runs the tower, as before).

Keys, so that nothing stale can be served (the scheme of online/server/profile_rows.py):

- the stored ``UserProfile`` **object** (identity; the entry holds a strong reference so its id
  cannot be reused while it lives): the feature client hands out the same object only while the
  user's stored bytes are unchanged, so any write (Kafka ingest, IngestEvents, materialisation,
  ForgetUser) gives a new object and a miss;
- the request's session items (they are part of the history, at age 0);
- the catalogue snapshot (identity): an upsert or a reload (a new model and its user tower)
  makes a new snapshot and empties the cache.

LRU by entries (a vector is D float32s). Used on the event-loop thread only, so it takes no lock.
Vectors handed out are read-only.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import NamedTuple

import numpy as np
from prometheus_client import Counter

from fulcrum.core.profile import UserProfile

LOOKUPS = Counter(
    "fulcrum_user_vector_cache_total",
    "Recommend's user-tower outputs reused within user_vector_reuse_ms, by result",
    ["result"],
)
_HIT = LOOKUPS.labels("hit")
_MISS = LOOKUPS.labels("miss")


class _Entry(NamedTuple):
    profile: UserProfile
    session: tuple[str, ...]
    computed_at: float
    vector: np.ndarray


class UserVectorCache:
    """(profile object, session items, snapshot) -> the tower's vector, for ``reuse_s`` seconds."""

    def __init__(self, reuse_s: float = 1.0, max_entries: int = 10_000) -> None:
        if not reuse_s >= 0 or max_entries < 0:
            raise ValueError(
                f"user vector cache: reuse_s >= 0 and max_entries >= 0, got {reuse_s} / {max_entries}"
            )
        self.reuse_s = float(reuse_s)
        self.max_entries = int(max_entries)
        self._entries: OrderedDict[tuple[int, tuple[str, ...]], _Entry] = OrderedDict()
        self._snapshot: weakref.ref | None = None

    @property
    def enabled(self) -> bool:
        return self.reuse_s > 0 and self.max_entries > 0

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def forget_user(self, user_id: str) -> None:
        """Drop every entry of ``user_id`` at once (ForgetUser)."""
        for key in [k for k, e in self._entries.items() if e.profile.user_id == user_id]:
            del self._entries[key]

    def _check_snapshot(self, cat: object) -> None:
        if self._snapshot is None or self._snapshot() is not cat:
            self.clear()  # a new snapshot (upsert, reload): every entry was for the old one
            self._snapshot = weakref.ref(cat)

    def get(
        self, cat: object, profile: UserProfile, session: tuple[str, ...], now: float
    ) -> np.ndarray | None:
        """The vector computed for this very profile object, session and snapshot at most
        ``reuse_s`` seconds before ``now``; else None (the caller runs the tower and ``put``s)."""
        if not self.enabled:
            return None
        self._check_snapshot(cat)
        key = (id(profile), session)
        entry = self._entries.get(key)
        if (
            entry is not None
            and entry.profile is profile
            and entry.session == session
            and 0.0 <= now - entry.computed_at <= self.reuse_s
        ):
            self._entries.move_to_end(key)
            _HIT.inc()
            return entry.vector
        _MISS.inc()
        return None

    def put(
        self, cat: object, profile: UserProfile, session: tuple[str, ...], now: float, vector: np.ndarray
    ) -> np.ndarray:
        """Keep ``vector`` (the tower's output for the history as of ``now``); returns it read-only."""
        if not self.enabled:
            return vector
        if vector.base is not None:  # a row of the batch's output: keep D floats, not the batch
            vector = vector.copy()
        vector.flags.writeable = False
        self._check_snapshot(cat)
        key = (id(profile), session)
        self._entries.pop(key, None)
        self._entries[key] = _Entry(profile, session, now, vector)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return vector
