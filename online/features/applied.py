"""The applied-events journal: which events each feature view's rows already include, written in
the SAME transaction as the rows.

Folds are not idempotent (a purchase count adds one per event), and the idempotency store is
marked after the sinks wrote (online/ingest/pipeline.py): a consumer killed (``kill -9``)
between the online-store write and that mark gets its batch redelivered, and without more the
redelivered events would be folded in a second time. So the row writer (online/features/
online_write.py) records, with each view's rows, the ids of the events folded into them:

- Redis (plain ``RedisOnlineStore``): the HSETs and one ``SET <journal key> 1 EX ttl`` per event
  go in one ``MULTI`` / ``EXEC`` transaction (all or nothing, also if the client dies mid-way);
  key ``fulcrum:applied:<project>:<view>:<event id>``;
- SQLite: the rows and a ``fulcrum_applied (view, event_id, at)`` row per event in one SQLite
  transaction of the same database file; rows older than the TTL are pruned now and then;
- any other online store: no journal (``has_journal`` False): at-least-once, the id dedupe only.

Before folding, the sink asks ``applied(event ids)`` per view and leaves out what that view
already has: a redelivery -- even after a crash between two views' writes -- changes each row
once. Entries live ``ttl_s`` (default 7 days, like the id dedupe): at least as long as a
redelivery may come (the longest consumer outage with uncommitted offsets). Cost: one small key
(Redis) or row (SQLite) per event and view.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

DEFAULT_TTL_S = 7 * 24 * 3600
REDIS_PREFIX = b"fulcrum:applied:"
SQLITE_TABLE = "fulcrum_applied"
_SQLITE_CHUNK = 500
#: prune the SQLite journal every this many writes
_PRUNE_EVERY = 200


def redis_key(project: bytes, view: str, event_id: str) -> bytes:
    return REDIS_PREFIX + project + b":" + view.encode() + b":" + event_id.encode("utf-8")


class SqliteJournal:
    """The journal table of one SQLite online store (same connection and transaction as rows)."""

    def __init__(self, ttl_s: int = DEFAULT_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._ready = False
        self._writes = 0

    def _ensure(self, conn: Any) -> None:
        if not self._ready:
            with conn:
                self._ensure_in_tx(conn)

    def applied(self, conn: Any, view: str, event_ids: Sequence[str]) -> set[str]:
        self._ensure(conn)
        found: set[str] = set()
        for start in range(0, len(event_ids), _SQLITE_CHUNK):
            part = list(event_ids[start : start + _SQLITE_CHUNK])
            marks = ",".join("?" * len(part))
            rows = conn.execute(
                f"SELECT event_id FROM {SQLITE_TABLE} WHERE view = ? AND event_id IN ({marks})", [view, *part]
            ).fetchall()
            found.update(r[0] for r in rows)
        return found

    def record(self, conn: Any, view: str, event_ids: Sequence[str]) -> None:
        """Inside the caller's transaction (``with conn:``)."""
        self._ensure_in_tx(conn)
        now = time.time()
        conn.executemany(
            f"INSERT OR REPLACE INTO {SQLITE_TABLE} (view, event_id, at) VALUES (?, ?, ?)",
            [(view, e, now) for e in event_ids],
        )
        self._writes += 1
        if self._writes % _PRUNE_EVERY == 0:
            conn.execute(f"DELETE FROM {SQLITE_TABLE} WHERE at < ?", (now - self.ttl_s,))

    def _ensure_in_tx(self, conn: Any) -> None:
        if not self._ready:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {SQLITE_TABLE} (view TEXT NOT NULL, event_id TEXT NOT NULL, "
                "at REAL NOT NULL, PRIMARY KEY (view, event_id)) WITHOUT ROWID"
            )
            self._ready = True
