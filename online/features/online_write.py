"""``OnlineRowWriter``: writes plain feature rows of one feature view straight to the configured
online store, in one call per batch (one SQLite transaction, one pipelined Redis round trip).

``FeatureStore.push(..., to=ONLINE)`` takes a DataFrame and, on every call, lists the registry's
feature services, validates the frame, converts it to Arrow and then to ``Value`` protobufs with
Feast's generic type inference, before calling the same ``online_write_batch``. For the event
sink's fixed views the target types are known up front, so this writer resolves the view and each
feature's protobuf field once and builds the ``Value`` messages directly. The bytes written are
the ones the push path writes (null ``Value`` for None / NaN, a list value for a list, event
timestamp rounded to the microsecond like the push frame's); tests/online/features/test_feature_store.py
checks
them against Feast's own push.

Per-batch work is kept to what changes (the sink writes every feature of every touched entity,
as a push does, and most of those values repeat):

- encodings of repeated values are built once: per feature, a bounded memo of exact-typed
  ``int`` / ``bool`` / ``str`` values (count features are small integers), plus the null and the
  empty-list value, maps the Python value to its ``Value`` message, serialised bytes and the
  store's own form of them (SQLite ``value_text``, or the RESP bulk string for Redis). Floats are
  always encoded afresh (``-0.0 == 0.0`` but serialise differently).
  The shared ``Value`` messages are only read (serialised) by the online stores, never mutated;
- entity keys are built (and for SQLite / Redis serialised with Feast's ``serialize_entity_key``)
  once per id, kept in a bounded map.

SQLite: Feast's ``SqliteOnlineStore.online_write_batch`` runs one ``execute`` per (entity,
feature). For the plain SQLite layout (no vector search, no ``value_num`` column) this writer runs
the same upsert, on the same connection (``SqliteOnlineStore._get_conn``) and table (``_table_id``,
``_quote_id``), with the same column values (``extract_text_and_num`` for ``value_text``; the event
timestamp passed through ``sqlite3.adapt``, i.e. the datetime adapter Feast's SQLite module
registers, once per entity instead of once per feature row), as ONE ``executemany`` in one
transaction.

Redis: for a plain ``RedisOnlineStore`` config (``redis_type: redis``) the rows go through
``RedisHashWriter`` (online/features/redis_write.py, which lists the Feast internals it relies
on): the same hashes, fields, TTL and dedup rule as ``RedisOnlineStore.online_write_batch``, framed
once and sent in one pipelined round trip. Any other store gets Feast's own ``online_write_batch``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from online.features import applied as applied_journal
from online.features import redis_write
from online.features.value_encoding import LISTS, SCALARS, FeatureEncoder, micros_of, timestamp_of

if TYPE_CHECKING:
    from feast import FeatureStore

#: entity ids whose keys are kept before the map starts afresh
KEY_CACHE_SIZE = 200_000


class OnlineRowWriter:
    """Builds and writes the online rows of one feature view (single string join key)."""

    def __init__(
        self,
        store: FeatureStore,
        view_name: str,
        features: Sequence[str],
        journal_ttl_s: int = applied_journal.DEFAULT_TTL_S,
    ) -> None:
        from feast.infra.online_stores.helpers import extract_text_and_num
        from feast.protos.feast.types import Value_pb2
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey

        self._Value, self._EntityKey, self._pb = Value_pb2.Value, EntityKey, Value_pb2
        self._config = store.config
        self._provider = store._get_provider()
        self.view = store.get_feature_view(view_name)
        keys = [e.name for e in self.view.entity_columns]
        if len(keys) != 1:
            raise ValueError(f"feature view {view_name}: expected one join key, got {keys}")
        self.key = keys[0]
        online = self._provider.online_store
        self._redis: redis_write.RedisHashWriter | None = None
        self._is_sqlite = self._sqlite_plain()
        #: the store's form of a Value's bytes, kept in the encodings (see ``Encoded``)
        self._form_of: Any = lambda value, blob: None
        if self._is_sqlite:
            self._form_of = lambda value, blob: extract_text_and_num(value, False)[0]
        elif redis_write.is_plain_redis(online, self._config):
            self._redis = redis_write.RedisHashWriter(online, self._config, self.view, features)
            self._form_of = lambda value, blob: redis_write.bulk(blob)
        dtypes = {f.name: str(f.dtype) for f in self.view.features}
        self._encoders: list[tuple[str, FeatureEncoder]] = []
        for name in features:
            if name not in dtypes:
                raise ValueError(f"feature view {view_name} has no feature {name!r}: the Feast repo was "
                                 "applied by an older Fulcrum; re-apply it (fulcrum features apply)")
            self._encoders.append((name, self._encoder(name, dtypes[name])))
        #: which events the rows include, written with them (online/features/applied.py)
        self._journal = applied_journal.SqliteJournal(journal_ttl_s)
        self._cas_writer: redis_write.CasWriter | None = None
        #: entity id -> [EntityKey message, its serialised bytes (SQLite) or RESP bulk Redis key,
        #: None until a write needs it]
        self._keys: dict[str, list[Any]] = {}

    def _encoder(self, name: str, dtype: str) -> FeatureEncoder:
        Value = self._Value
        if dtype in SCALARS:
            field, conv = SCALARS[dtype]

            def scalar(v: Any) -> Any:
                return Value(**{field: conv(v)})

            return FeatureEncoder(scalar, False, Value, self._form_of)
        if dtype in LISTS:
            field, msg = LISTS[dtype]
            List = getattr(self._pb, msg)

            def listed(v: Any) -> Any:
                return Value(**{field: List(val=list(v))})

            return FeatureEncoder(listed, True, Value, self._form_of)
        raise ValueError(f"feature {name}: dtype {dtype} is not supported by the direct online writer")

    def _entity_key(self, entity_id: str) -> list[Any]:
        """[EntityKey message, store key or None] of one id (built once, then shared)."""
        keys = self._keys
        hit = keys.get(entity_id)
        if hit is None:
            if len(keys) >= KEY_CACHE_SIZE:
                keys.clear()
            ek = self._EntityKey(join_keys=[self.key], entity_values=[self._Value(string_val=entity_id)])
            hit = keys[entity_id] = [ek, None]
        return hit

    def rows(
        self, ids: Sequence[str], rows: Sequence[Mapping[str, Any]], as_of_s: Sequence[float]
    ) -> list[tuple[Any, dict[str, Any], datetime, None]]:
        """``online_write_batch`` data: (entity key, {feature: Value}, event timestamp, None) per id."""
        out = []
        encoders = self._encoders
        for i, row, ts in zip(ids, rows, as_of_s, strict=True):
            values = {n: enc.value(row.get(n)) for n, enc in encoders}
            out.append((self._entity_key(i)[0], values, timestamp_of(ts), None))
        return out

    @property
    def checks_versions(self) -> bool:
        """True when rows can be written compare-and-set (plain Redis, ``skip_dedup``): several
        writers of one row then never lose each other's updates (online/features/redis_write.py)."""
        return self._redis is not None and not self._redis._dedup

    def _cas(self) -> redis_write.CasWriter:
        if self._cas_writer is None:
            if self._redis is None:
                raise RuntimeError("compare-and-set writes need the plain Redis online store")
            self._cas_writer = redis_write.CasWriter(self._redis, self.view.name)
        return self._cas_writer

    def _redis_key(self, entity_id: str) -> bytes:
        from feast.infra.key_encoding_utils import serialize_entity_key

        key = self._entity_key(entity_id)
        if key[1] is None:
            version = self._config.entity_key_serialization_version
            ser = serialize_entity_key(key[0], entity_key_serialization_version=version)
            key[1] = redis_write.bulk(ser + self._redis.project)  # type: ignore[union-attr]
        return key[1]

    def row_versions(self, ids: Sequence[str]) -> dict[str, int]:
        """The rows' write versions; read them BEFORE the rows' values (``write_checked``)."""
        if not ids:
            return {}
        found = self._cas().versions([self._redis_key(i) for i in ids])
        return dict(zip(ids, found, strict=True))

    def write_checked(
        self,
        ids: Sequence[str],
        rows: Sequence[Mapping[str, Any]],
        as_of_s: Sequence[float],
        expected: Mapping[str, int],
        applied_by_row: Mapping[str, Sequence[str]],
    ) -> tuple[list[str], list[str]]:
        """Compare-and-set write of the rows (each with the journal keys of the events folded into
        it); returns (ids not written, ids whose version changed since it was read)."""
        encoders = self._encoders
        project = self._redis.project  # type: ignore[union-attr]
        data = [
            (self._redis_key(i), micros_of(ts), [enc.encoded(row.get(n))[2] for n, enc in encoders])
            for i, row, ts in zip(ids, rows, as_of_s, strict=True)
        ]
        journal = [
            [applied_journal.redis_key(project, self.view.name, e) for e in applied_by_row.get(i, ())]
            for i in ids
        ]
        unwritten, conflicting = self._cas().write(
            data, [expected.get(i, 0) for i in ids], journal, self._journal.ttl_s
        )
        return [ids[k] for k in unwritten], [ids[k] for k in conflicting]

    @property
    def has_journal(self) -> bool:
        """True when writes record their events atomically (online/features/applied.py)."""
        return self._redis is not None or self._is_sqlite

    def applied(self, event_ids: Sequence[str]) -> set[str]:
        """The events whose effect this view's rows already include (empty without a journal)."""
        if not event_ids:
            return set()
        if self._redis is not None:
            keys = [applied_journal.redis_key(self._redis.project, self.view.name, e) for e in event_ids]
            return {e for e, hit in zip(event_ids, self._redis.applied(keys), strict=True) if hit}
        if self._is_sqlite:
            conn = self._provider.online_store._get_conn(self._config)  # type: ignore[attr-defined]
            return self._journal.applied(conn, self.view.name, event_ids)
        return set()

    def write(
        self,
        ids: Sequence[str],
        rows: Sequence[Mapping[str, Any]],
        as_of_s: Sequence[float],
        applied_ids: Sequence[str] = (),
    ) -> None:
        """One write of all the rows (nothing when ``ids`` and ``applied_ids`` are empty), with
        ``applied_ids`` recorded in the same transaction where the store allows it."""
        if not ids and not applied_ids:
            return
        if self._redis is not None:
            self._redis_write(ids, rows, as_of_s, applied_ids)
        elif self._is_sqlite:
            self._sqlite_write(ids, rows, as_of_s, applied_ids)
        elif not ids:
            return
        else:
            data = self.rows(ids, rows, as_of_s)
            # rows are built as (EntityKey proto, {name: Value proto}, event_ts, None): Feast's shape
            self._provider.online_write_batch(self._config, self.view, data, None)  # type: ignore[arg-type]

    def _sqlite_plain(self) -> bool:
        from feast.infra.online_stores.sqlite import SqliteOnlineStore

        osc = self._config.online_store
        return (
            isinstance(self._provider.online_store, SqliteOnlineStore)
            and not getattr(osc, "vector_enabled", False)
            and not getattr(osc, "enable_openai_compatible_store", False)
        )

    def _redis_write(
        self,
        ids: Sequence[str],
        rows: Sequence[Mapping[str, Any]],
        as_of_s: Sequence[float],
        applied_ids: Sequence[str] = (),
    ) -> None:
        """``RedisOnlineStore.online_write_batch``'s hashes through ``RedisHashWriter``."""
        from feast.infra.key_encoding_utils import serialize_entity_key

        from online.features.redis_write import bulk

        redis = self._redis
        if redis is None:
            raise RuntimeError("not a plain Redis store")  # unreachable: write() checks
        version = self._config.entity_key_serialization_version
        project = redis.project
        encoders = self._encoders
        data = []
        for i, row, ts in zip(ids, rows, as_of_s, strict=True):
            key = self._entity_key(i)
            if key[1] is None:
                ser = serialize_entity_key(key[0], entity_key_serialization_version=version)
                key[1] = bulk(ser + project)
            data.append((key[1], micros_of(ts), [enc.encoded(row.get(n))[2] for n, enc in encoders]))
        journal = [applied_journal.redis_key(project, self.view.name, e) for e in applied_ids]
        redis.write(data, journal, self._journal.ttl_s)

    def _sqlite_write(
        self,
        ids: Sequence[str],
        rows: Sequence[Mapping[str, Any]],
        as_of_s: Sequence[float],
        applied_ids: Sequence[str] = (),
    ) -> None:
        """``SqliteOnlineStore.online_write_batch`` for the plain layout, as one executemany."""
        import sqlite3

        from feast.infra.key_encoding_utils import serialize_entity_key
        from feast.infra.online_stores.sqlite import _quote_id, _table_id

        cfg = self._config
        store = self._provider.online_store
        conn = store._get_conn(cfg)  # type: ignore[attr-defined]  # SqliteOnlineStore's own connection
        table = _table_id(cfg.project, self.view, cfg.registry.enable_online_feature_view_versioning)
        sql = (
            f"INSERT INTO {_quote_id(table)} "
            "(entity_key, feature_name, value, value_text, event_ts, created_ts) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(entity_key, feature_name) DO UPDATE SET value = excluded.value, "
            "value_text = excluded.value_text, event_ts = excluded.event_ts, "
            "created_ts = excluded.created_ts;"
        )
        version = cfg.entity_key_serialization_version
        encoders = self._encoders
        params: list[tuple[Any, ...]] = []
        append = params.append
        for i, row, ts in zip(ids, rows, as_of_s, strict=True):
            key = self._entity_key(i)
            if key[1] is None:
                key[1] = serialize_entity_key(key[0], entity_key_serialization_version=version)
            key_bin = key[1]
            # what sqlite3 binds for the naive UTC datetime Feast's own write passes (its adapter)
            stamp = sqlite3.adapt(timestamp_of(ts).replace(tzinfo=None), sqlite3.PrepareProtocol)
            for name, enc in encoders:
                _, blob, text = enc.encoded(row.get(name))
                append((key_bin, name, blob, text, stamp, None))
        with conn:
            conn.executemany(sql, params)
            if applied_ids:
                self._journal.record(conn, self.view.name, applied_ids)
