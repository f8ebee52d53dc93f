"""Decoded user rows, keyed by the exact bytes they were decoded from.

A warm Recommend spends more of its CPU decoding the user's stored row (protobuf ``Value``s, the
JSON of the daily counts and ignored items, the recent sequence, the bought/cancelled sets) than
reading it. ``DecodedUserCache`` keeps the decoded ``UserFeatures`` of recently read users beside
the raw row they came from; a read still fetches the row from the store on every request (never
skipped: nothing here can serve a stale row), and when its bytes are **equal** to the cached
ones the decoding is skipped. Decoding is a pure function of (user id, bytes), so the answer is
the one a fresh decode would give; any write to the row (Kafka ingest, IngestEvents, Feast
materialisation, ForgetUser) changes its bytes and so misses. No version numbers, TTLs or
invalidation messages to get wrong.

Bounded by entries and by the raw bytes held (LRU); thread-safe (the event loop and the read
workers share it). Cached objects are shared between requests: the arrays in them are made
read-only, and the serving code never mutates a profile (``dataclasses.replace`` makes a new
one). ``forget_user`` drops a user at once (ForgetUser).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from prometheus_client import Counter

LOOKUPS = Counter(
    "fulcrum_user_row_cache_total",
    "Decoded-user cache lookups by result (hit: the stored bytes were unchanged, decode skipped)",
    ["result"],
)
_HIT = LOOKUPS.labels("hit")
_MISS = LOOKUPS.labels("miss")


def raw_size(raw: list) -> int:
    """Bytes of the stored values in one fetched entity (``FastOnlineReader.fetch`` output)."""
    return sum(len(b) for view in raw for row in view for b in row.values())


class DecodedUserCache:
    """user id -> (raw fetched rows, decoded value); LRU bounded by ``max_entries`` and ``max_bytes``."""

    def __init__(self, max_entries: int = 10_000, max_bytes: int = 64 * 2**20) -> None:
        if max_entries < 0 or max_bytes < 0:
            raise ValueError(f"user row cache bounds must be >= 0, got {max_entries} entries / {max_bytes} B")
        self.max_entries = int(max_entries)
        self.max_bytes = int(max_bytes)
        self._entries: OrderedDict[str, tuple[list, int, Any]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0 and self.max_bytes > 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, user_id: str, raw: list) -> Any | None:
        """The value decoded from exactly ``raw`` for ``user_id``, else None."""
        with self._lock:
            entry = self._entries.get(user_id)
            if entry is None or entry[0] != raw:  # dict equality: names and bytes, compared in C
                _MISS.inc()
                return None
            self._entries.move_to_end(user_id)
        _HIT.inc()
        return entry[2]

    def put(self, user_id: str, raw: list, value: Any) -> None:
        size = raw_size(raw)
        if not self.enabled or size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(user_id, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[user_id] = (raw, size, value)
            self._bytes += size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _, (_, dropped, _) = self._entries.popitem(last=False)
                self._bytes -= dropped

    def forget_user(self, user_id: str) -> None:
        with self._lock:
            old = self._entries.pop(user_id, None)
            if old is not None:
                self._bytes -= old[1]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
