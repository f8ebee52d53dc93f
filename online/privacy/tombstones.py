"""Tombstones of forgotten users, and the ingest sink that honours them.

The race they close: ``fulcrum ingest`` folds a batch into the user rows it read (or keeps in
its cache) and writes them back. Without tombstones, a user forgotten while their events are
still in Kafka, or while the consumer holds their row in its cache, is written back by the next
batch: the whole cached history reappears.

Where a forget is recorded (``Tombstones.add``, called by ``Forgetter`` BEFORE it erases
anything): the ledger ``forgotten_users.sha256`` (fulcrum/core/forgotten.py: sha256 digests,
never ids) in the offline store, the same ledger under the Feast repo's ``data/`` (the folder
every SQLite writer shares), and the Redis set ``fulcrum:forgotten_users`` when the online store
is Redis (shared by every consumer and server on any host).

``ForgetAwareSink`` wraps the sink of an ingest door:

1. before a batch: the events of users with a tombstone are dropped (not applied, not
   dead-lettered -- the DLQ would keep their data --, counted in
   ``fulcrum_ingest_forgotten_dropped``) and the wrapped sink's cache is cleared;
   Any new tombstone since the last batch (another process's forget) clears that cache too,
   so a forgotten user's cached state does not stay in memory;
2. after the batch is written: the tombstones are read again for the batch's users; a user
   forgotten meanwhile (the forget erased the store between this sink's read and its write) is
   erased again by this process (``erase``). As the forget writes the tombstone before it
   erases, either its erase comes after this write, or this check sees the tombstone: the row
   cannot survive.

A tombstone is permanent: later events of that user id are dropped too (a shop that reuses user
ids must not reuse a forgotten one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from fulcrum.core.events import Event
from fulcrum.core.forgotten import LEDGER, add_to_ledger, user_digest

log = logging.getLogger(__name__)

REDIS_KEY = b"fulcrum:forgotten_users"


class _LedgerFile:
    """One ledger file, re-read only when its size or modification time changes."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._stamp: tuple[int, int] | None = None
        self._digests: frozenset[str] = frozenset()

    def stamp(self) -> tuple[int, int] | None:
        try:
            st = (self.folder / LEDGER).stat()
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_size

    def digests(self) -> frozenset[str]:
        path = self.folder / LEDGER
        try:
            st = path.stat()
        except FileNotFoundError:
            self._stamp, self._digests = None, frozenset()
            return self._digests
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            self._digests = frozenset(x.strip() for x in path.read_text().splitlines() if x.strip())
            self._stamp = stamp
        return self._digests


class Tombstones:
    """``ledger_dirs``: folders holding a ledger; ``redis``: a redis-py client (or a callable
    returning one) for the shared set, or None."""

    def __init__(self, ledger_dirs: Sequence[Path] = (), redis: Any = None) -> None:
        self.ledgers = [_LedgerFile(d) for d in dict.fromkeys(Path(d) for d in ledger_dirs)]
        self._redis = redis

    @property
    def enabled(self) -> bool:
        return bool(self.ledgers) or self._redis is not None

    def _client(self) -> Any:
        return self._redis() if callable(self._redis) and not hasattr(self._redis, "sadd") else self._redis

    def add(self, user_id: str) -> None:
        for ledger in self.ledgers:
            add_to_ledger(ledger.folder, user_id)
        if self._redis is not None:
            self._client().sadd(REDIS_KEY, user_digest(user_id))

    def version(self) -> tuple:
        """Changes whenever a forget was recorded (the ledgers' stamps, the Redis set's size)."""
        stamps: tuple = tuple(ledger.stamp() for ledger in self.ledgers)
        if self._redis is not None:
            stamps += (int(self._client().scard(REDIS_KEY)),)
        return stamps

    def forgotten(self, user_ids: Iterable[str]) -> set[str]:
        """The ids among ``user_ids`` with a tombstone."""
        digest = {u: user_digest(u) for u in set(user_ids) if u}
        if not digest:
            return set()
        known: frozenset[str] = frozenset().union(*(ledger.digests() for ledger in self.ledgers))
        out = {u for u, d in digest.items() if d in known}
        ask = [u for u in digest if u not in out]
        if ask and self._redis is not None:
            hits = self._client().smismember(REDIS_KEY, [digest[u] for u in ask])
            out.update(u for u, hit in zip(ask, hits, strict=True) if hit)
        return out


def feast_redis_client(store: Any) -> Any:
    """A callable giving the redis-py client of a Feast store whose online store is Redis, else
    None (the Feast-internal ``_get_client``, as online/privacy/forget.py uses)."""
    if store is None:
        return None
    online = store._get_provider().online_store
    if type(online).__name__ != "RedisOnlineStore":
        return None
    return lambda: online._get_client(store.config.online_store)


class ForgetAwareSink:
    """An ``EventSink`` that drops the events of forgotten users and re-erases a user forgotten
    while their batch was being written (module doc). Forwards ``clear_cache`` / ``close``."""

    def __init__(
        self, inner: Any, tombstones: Tombstones, erase: Callable[[str], None], door: str = "kafka"
    ) -> None:
        self.inner = inner
        self.sinks = [inner]  # server_forgetter walks .sinks for in-process state
        self.tombstones = tombstones
        self.erase = erase
        from online.ingest.metrics import FORGOTTEN_DROPPED

        self._dropped = FORGOTTEN_DROPPED.labels(door)
        self._version: tuple | None = None

    def _clear(self) -> None:
        clear = getattr(self.inner, "clear_cache", None)
        if callable(clear):
            clear()

    def _forgotten(self, users: set[str]) -> set[str]:
        from online.ingest.sink import SinkUnavailable

        try:
            return self.tombstones.forgotten(users)
        except Exception as e:  # noqa: BLE001 - OSError, redis errors: the batch is retried later
            raise SinkUnavailable(f"reading the forgotten-users tombstones failed: {type(e).__name__}") from e

    def _without_forgotten(self, events: Sequence[Event]) -> tuple[list[Event], set[str]]:
        from online.ingest.sink import SinkUnavailable

        try:
            version = self.tombstones.version()
        except Exception as e:  # noqa: BLE001
            raise SinkUnavailable(f"reading the forgotten-users tombstones failed: {type(e).__name__}") from e
        if version != self._version:
            # a forget since the last batch: drop every cached row, so no forgotten user's state
            # stays in this process's memory (a row is only cached, never trusted over a tombstone)
            if self._version is not None:
                self._clear()
            self._version = version
        users = {e.user_id for e in events if e.user_id}
        gone = self._forgotten(users)
        if not gone:
            return list(events), users
        kept = [e for e in events if e.user_id not in gone]
        self._dropped.inc(len(events) - len(kept))
        log.info("dropped %d events of %d forgotten users", len(events) - len(kept), len(gone))
        self._clear()  # their rows may be cached from before the forget
        return kept, users - gone

    def _erase_late(self, users: set[str]) -> None:
        late = self._forgotten(users) if users else set()
        if late:
            log.warning("%d users were forgotten while their events were being written: erasing again",
                        len(late))
            self._clear()
            for user in sorted(late):
                self.erase(user)

    def apply(self, events: Sequence[Event]) -> None:
        kept, users = self._without_forgotten(events)
        if kept:
            self.inner.apply(kept)
        self._erase_late(users)

    def apply_isolating(self, events: Sequence[Event], error: BaseException) -> list:
        from online.ingest.isolate import apply_isolating

        kept, users = self._without_forgotten(events)
        isolating = getattr(self.inner, "apply_isolating", None)
        poison = isolating(kept, error) if callable(isolating) else apply_isolating(self.inner, kept, error)
        self._erase_late(users)
        return poison

    def clear_cache(self) -> None:
        self._clear()

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()


def forget_aware(
    sink: Any,
    *,
    offline_dir: Path | None = None,
    feature_repo: Path | None = None,
    feature_store: Any = None,
    door: str = "kafka",
) -> Any:
    """``sink`` wrapped in a ``ForgetAwareSink`` reading every tombstone this process can see
    (the offline store's ledger, the Feast repo's, the Redis set of a Redis online store) and
    erasing with the same stores; ``sink`` itself when it can see none."""
    tombstones = default_tombstones(offline_dir, feature_repo, feature_store)
    if not tombstones.enabled:
        return sink

    def erase(user_id: str) -> None:
        from online.privacy.forget import Forgetter

        Forgetter(offline_dir=offline_dir, feature_store=feature_store, feature_repo=feature_repo,
                  tombstones=tombstones).forget(user_id)

    return ForgetAwareSink(sink, tombstones, erase, door)


def default_tombstones(offline_dir: Path | None, feature_repo: Path | None, feature_store: Any) -> Tombstones:
    dirs = [Path(offline_dir)] if offline_dir is not None else []
    if feature_repo is not None:
        dirs.append(Path(feature_repo) / "data")
    return Tombstones(dirs, feast_redis_client(feature_store))
