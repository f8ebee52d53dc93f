"""Erase one user from every store Fulcrum keeps, and keep them out of the next bundle.

``Forgetter(...).forget(user_id) -> ForgetReport`` first records the user's tombstone
(online/privacy/tombstones.py: the ledgers below and, with a Redis online store, a Redis set),
which running ingest consumers check before and after every batch, then erases, in this order:

1. the offline event store used for retraining: the user's rows of every events parquet file
   (``<offline_dir>/ingested/events/*.parquet`` and each prepared ``events.parquet`` given),
   rewritten atomically (temporary file, then rename); their event ids are collected first;
2. (already written with the tombstones) the ledger ``<offline_dir>/forgotten_users.sha256``
   (fulcrum/core/forgotten.py): retraining drops the user's events even if a later data export
   brings them back;
3. the Feast repo's parquet batch sources of the user views (``data/user_*.parquet``), so a
   later ``feast materialize`` cannot restore them;
4. the Feast online store: the user's rows of every user view (SQLite: ``DELETE`` by serialised
   entity key; Redis: the entity's hash); another online store type is refused (Unavailable);
5. the idempotency keys of the collected event ids (the in-process store and/or Redis);
6. in-process state: the in-memory feature store of the demo, the event sink's cache.

Every step is idempotent: a forget that failed half-way is simply run again. Feast internals
relied on (the layout online/features/online_write.py writes): ``serialize_entity_key``,
``sqlite._table_id`` / ``_quote_id``, ``SqliteOnlineStore._get_conn``, ``RedisOnlineStore._get_client``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fulcrum.core import environment
from fulcrum.core import feature_names as fn
from fulcrum.core import schema as S
from fulcrum.core.errors import InvalidArgument, Unavailable

log = logging.getLogger(__name__)

USER_VIEWS = tuple(v for v in fn.VIEWS if fn.VIEW_KEY[v] == fn.USER_KEY)
INGESTED_EVENTS = Path("ingested") / "events"
MAX_USER_ID = 256


@dataclass
class ForgetReport:
    offline_events: int = 0
    offline_files: int = 0
    batch_rows: int = 0
    online_entries: int = 0
    idempotency_keys: int = 0
    notes: list[str] = field(default_factory=list)


def _drop_user_rows(
    path: Path, column: str, user_id: str, id_column: str | None = None
) -> tuple[int, list[str]]:
    """Rewrite ``path`` without the user's rows; (rows removed, their ``id_column`` values)."""
    import pandas as pd

    frame = pd.read_parquet(path)
    if column not in frame.columns:
        return 0, []
    mine = frame[column].astype(str) == user_id
    n = int(mine.sum())
    if not n:
        return 0, []
    ids = [str(i) for i in frame.loc[mine, id_column]] if id_column and id_column in frame.columns else []
    tmp = path.with_name(f".{path.name}.forget.tmp")
    frame.loc[~mine].to_parquet(tmp, index=False)
    os.replace(tmp, path)
    return n, ids


class Forgetter:
    def __init__(
        self,
        *,
        offline_dir: Path | None = None,
        prepared_dirs: Sequence[Path] = (),
        feature_store: Any = None,
        feature_repo: Path | None = None,
        dedupe: Sequence[Any] = (),
        in_process: Sequence[Any] = (),
        tombstones: Any = None,
    ) -> None:
        """``feature_store``: a ``feast.FeatureStore`` (its online store is erased);
        ``feature_repo``: its folder (the batch sources under data/); ``dedupe``: idempotency
        stores with ``forget(ids)`` (MemoryDedupe / RedisDedupe); ``in_process``: objects with
        ``forget_user(user_id)`` or ``clear_cache()`` (in-memory features, the event sink);
        ``tombstones``: where the forget is recorded first (online/privacy/tombstones.py; default:
        the ledgers of ``offline_dir`` and ``feature_repo/data`` and the Redis set of a Redis
        ``feature_store``)."""
        self.offline_dir = Path(offline_dir) if offline_dir else None
        self.prepared_dirs = [Path(p) for p in prepared_dirs]
        self.feature_store = feature_store
        self.feature_repo = Path(feature_repo) if feature_repo else None
        self.dedupe = list(dedupe)
        self.in_process = list(in_process)
        if tombstones is None:
            from online.privacy.tombstones import default_tombstones

            tombstones = default_tombstones(self.offline_dir, self.feature_repo, feature_store)
        self.tombstones = tombstones

    def forget(self, user_id: str) -> ForgetReport:
        user_id = user_id.strip() if isinstance(user_id, str) else ""
        if not user_id:
            raise InvalidArgument("user_id", "required")
        if len(user_id) > MAX_USER_ID:
            raise InvalidArgument("user_id", f"longer than {MAX_USER_ID} characters")
        report = ForgetReport()
        # the tombstones first: an ingest writing this user meanwhile sees them and erases again
        try:
            self.tombstones.add(user_id)
        except Exception as e:  # noqa: BLE001 - OSError, redis errors
            raise Unavailable(f"recording the forget (tombstones): {type(e).__name__}: {e}") from e
        event_ids = self._offline(user_id, report)
        if self.offline_dir is None:
            report.notes.append("no offline_dir: no ledger, retraining is not told")
        self._batch_sources(user_id, report)
        if self.feature_store is not None:
            report.online_entries, journal = self._online(user_id, sorted(event_ids))
            report.idempotency_keys += journal
        for store in self.dedupe if event_ids else ():
            report.idempotency_keys += int(store.forget(sorted(event_ids)))
        for obj in self.in_process:
            if hasattr(obj, "forget_user"):
                obj.forget_user(user_id)
            elif hasattr(obj, "clear_cache"):
                obj.clear_cache()
        # the report names counts, never the user (logs are not an erasure-proof place)
        log.info(
            "forgot a user: %d offline events in %d files, %d batch rows, %d online entries, %d keys",
            report.offline_events, report.offline_files, report.batch_rows, report.online_entries,
            report.idempotency_keys,
        )
        return report

    # ---- 1. offline events ---------------------------------------------------------------------
    def _event_files(self) -> list[Path]:
        files: list[Path] = []
        if self.offline_dir is not None and (self.offline_dir / INGESTED_EVENTS).is_dir():
            files += sorted((self.offline_dir / INGESTED_EVENTS).glob("*.parquet"))
        for d in self.prepared_dirs:
            if (d / S.EVENTS_FILE).is_file():
                files.append(d / S.EVENTS_FILE)
            elif d.is_dir():
                raise InvalidArgument("data", f"{d}: no {S.EVENTS_FILE}")
        return files

    def _offline(self, user_id: str, report: ForgetReport) -> set[str]:
        ids: set[str] = set()
        for path in self._event_files():
            try:
                n, found = _drop_user_rows(path, S.USER_ID, user_id, S.EVENT_ID)
            except OSError as e:
                raise Unavailable(f"offline store {path}: {e}") from e
            if n:
                report.offline_events += n
                report.offline_files += 1
                ids.update(found)
        return ids

    # ---- 3. Feast batch sources ----------------------------------------------------------------
    def _batch_sources(self, user_id: str, report: ForgetReport) -> None:
        if self.feature_repo is None:
            return
        for view in USER_VIEWS:
            path = self.feature_repo / "data" / fn.batch_file_name(view)
            if path.is_file():
                n, _ = _drop_user_rows(path, fn.USER_KEY, user_id)
                report.batch_rows += n

    # ---- 4. Feast online store -----------------------------------------------------------------
    def _online(self, user_id: str, event_ids: list[str]) -> tuple[int, int]:
        """(online entries deleted, applied-journal entries of the user's events deleted)."""
        from feast.infra.key_encoding_utils import serialize_entity_key
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        store = self.feature_store
        config = store.config
        online = store._get_provider().online_store
        key = serialize_entity_key(
            EntityKey(join_keys=[fn.USER_KEY], entity_values=[Value(string_val=user_id)]),
            entity_key_serialization_version=config.entity_key_serialization_version,
        )
        kind = type(online).__name__
        if kind == "SqliteOnlineStore":
            return self._sqlite(store, online, config, key, event_ids)
        if kind == "RedisOnlineStore":
            return self._redis(online, config, key, event_ids)
        raise Unavailable(f"forgetting a user is not implemented for the {kind} online store")

    @staticmethod
    def _sqlite(store, online, config, key: bytes, event_ids: list[str]) -> tuple[int, int]:
        from feast.infra.online_stores.sqlite import _quote_id, _table_id

        from online.features.applied import SQLITE_TABLE

        conn = online._get_conn(config)
        # deleted rows are overwritten with zeros, not left in free pages of the file
        conn.execute("PRAGMA secure_delete = ON")
        deleted = 0
        versioned = config.registry.enable_online_feature_view_versioning
        with conn:
            for view in USER_VIEWS:
                table = _table_id(config.project, store.get_feature_view(view), versioned)
                try:
                    cur = conn.execute(f"DELETE FROM {_quote_id(table)} WHERE entity_key = ?", (key,))
                except Exception as e:  # sqlite3.OperationalError: the view was never applied
                    if "no such table" in str(e):
                        continue
                    raise Unavailable(f"online store: {e}") from e
                deleted += cur.rowcount
            journal = 0
            for start in range(0, len(event_ids), 500):  # the applied-events journal (applied.py)
                part = event_ids[start : start + 500]
                try:
                    marks = ",".join("?" * len(part))
                    sql = f"DELETE FROM {_quote_id(SQLITE_TABLE)} WHERE event_id IN ({marks})"
                    cur = conn.execute(sql, part)
                except Exception as e:  # no journal table yet: nothing to delete
                    if "no such table" in str(e):
                        break
                    raise Unavailable(f"online store: {e}") from e
                journal += cur.rowcount
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # no old copy left in the WAL
        return deleted, journal

    @staticmethod
    def _redis(online, config, key: bytes, event_ids: list[str]) -> tuple[int, int]:
        import redis

        from online.features.applied import redis_key

        client = online._get_client(config.online_store)
        project = config.project.encode("utf-8")
        # the applied-events journal keys of the user's events, in every view (applied.py)
        journal_keys = [redis_key(project, view, e) for view in fn.VIEWS for e in event_ids]
        try:
            # one hash per entity, shared by every user view (online/features/redis_write.py)
            rows = int(client.delete(key + project))
            journal = sum(
                int(client.delete(*journal_keys[s : s + 1000])) for s in range(0, len(journal_keys), 1000)
            )
        except redis.RedisError as e:
            raise Unavailable(f"online store: {e}") from e
        return rows, journal



def server_forgetter(config, feature_client, sinks: Sequence[Any], pipeline) -> Forgetter:
    """The Forgetter of a running server: its offline_dir, its Feast repo and store (when it
    reads one), its pipeline's idempotency store plus the Redis one of the ingest consumers when
    the feature store is Redis (they share FULCRUM_REDIS_URL), and its in-process state."""
    store = getattr(getattr(feature_client, "client", None), "store", None)
    dedupe: list[Any] = [pipeline.dedupe]
    if store is not None and type(store._get_provider().online_store).__name__ == "RedisOnlineStore":
        from fulcrum.core.feature_store import DEFAULT_REDIS_URL, ENV_REDIS_URL
        from online.ingest.dedupe import RedisDedupe

        dedupe.append(RedisDedupe.from_url(environment.get(ENV_REDIS_URL) or DEFAULT_REDIS_URL))
    flat: list[Any] = []
    todo = [feature_client, *sinks]
    while todo:  # FanoutSinks hold the sinks that keep state
        obj = todo.pop()
        todo.extend(getattr(obj, "sinks", ()))
        if hasattr(obj, "forget_user") or hasattr(obj, "clear_cache"):
            flat.append(obj)
    in_process = list(dict.fromkeys(flat))
    return Forgetter(
        offline_dir=config.offline_dir,
        feature_store=store,
        feature_repo=config.feature_repo,
        dedupe=dedupe,
        in_process=in_process,
    )
