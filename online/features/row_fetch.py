"""Raw online rows straight from the store's own layout: ``{feature name: Value bytes}`` per view
and entity, for ``FastOnlineReader`` (online/features/fast_read.py).

Feast's ``OnlineStore.online_read`` does per call what is the same every time for a fixed set of
views: it serialises the keys, builds the table names / hashed field names, and (SQLite) parses
every row's event timestamp into a ``datetime`` through the connection's ``PARSE_DECLTYPES``,
then (both) parses every value into a ``Value`` message the caller decodes again. The serving hot
path reads ONE user per request, so that fixed work was most of the read (measured: docs/serving.md).

Two fetchers read the bytes Feast stores, in the layout Feast 0.67 writes, and nothing else:

- ``SqliteRowFetcher`` (plain ``SqliteOnlineStore``: no vector search): one table per view
  (``_table_id``), primary key (entity_key, feature_name), column ``value`` = ``Value`` bytes;
  all views of a request read by ONE ``SELECT ... UNION ALL ...`` on a read-only connection of the
  fetcher's own per thread (no timestamp parsing). ``nonblocking=True`` uses a connection with no
  busy wait: while a writer commits it raises ``StoreBusy`` at once instead of waiting, so a
  caller on the event loop can hand the read to a worker thread (which waits, bounded by the
  deadline) -- the event loop is never blocked by a lock.
- ``RedisRowFetcher`` (plain ``RedisOnlineStore``, ``redis_type: redis``): one hash per entity
  (``serialize_entity_key(...) + project``), field ``_mmh3("{view}:{feature}")`` per feature;
  every view's fields of one entity in ONE ``HMGET`` (all views share the entity's hash), the
  command framed once at start-up, sent on the store's own connection pool. A missing field is
  an empty ``Value`` (b""), exactly as Feast's ``online_read`` returns it.

Any other store (cluster, sentinel, a vector-enabled SQLite, a plug-in) has no fetcher here and
``FastOnlineReader`` calls ``online_read``. tests/online/features/test_fast_read.py checks, on a real SQLite
file
and a real redis-server, that the bytes fetched here equal ``online_read``'s
``Value.SerializeToString()`` for every feature of every entity (and unknown ones).
"""

from __future__ import annotations

import sqlite3
import sys
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from online.features.redis_write import bulk, round_trip

#: one view's rows for a batch of ids: per id, {feature name: Value bytes} ({} = no row)
ViewRows = list[dict[str, bytes]]


class StoreBusy(Exception):
    """The SQLite file is locked by a committing writer (only raised with ``nonblocking=True``)."""


def is_plain_sqlite(online_store: Any, config: Any) -> bool:
    mod = sys.modules.get("feast.infra.online_stores.sqlite")
    if mod is None:
        return False
    osc = config.online_store
    return (
        type(online_store) is mod.SqliteOnlineStore
        and not getattr(osc, "vector_enabled", False)
        and not getattr(osc, "enable_openai_compatible_store", False)
    )


def is_plain_redis(online_store: Any, config: Any) -> bool:
    mod = sys.modules.get("feast.infra.online_stores.redis")
    if mod is None:
        return False
    osc = config.online_store
    return (
        type(online_store) is mod.RedisOnlineStore
        and isinstance(osc, mod.RedisOnlineStoreConfig)
        and osc.redis_type == mod.RedisType.redis
        and getattr(osc, "client", mod.RedisClient.redis) == mod.RedisClient.redis
    )


class _KeyBytes:
    """Entity id -> Feast's serialised entity key (``serialize_entity_key``, the store's key)."""

    def __init__(self, config: Any, join_key: str) -> None:
        from feast.infra.key_encoding_utils import serialize_entity_key
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        self._ser, self._EntityKey, self._Value = serialize_entity_key, EntityKey, Value
        self._key, self._version = join_key, config.entity_key_serialization_version

    def __call__(self, entity_id: str) -> bytes:
        ek = self._EntityKey(join_keys=[self._key], entity_values=[self._Value(string_val=entity_id)])
        return self._ser(ek, entity_key_serialization_version=self._version)


class SqliteRowFetcher:
    """Reads the views' rows from the plain SQLite layout (see the module docstring)."""

    #: seconds a worker-thread read waits for a committing writer (the caller's deadline is shorter)
    BUSY_WAIT_S = 5.0

    def __init__(self, online_store: Any, config: Any, views: Sequence[Any], join_key: str) -> None:
        from feast.infra.online_stores.sqlite import _quote_id, _table_id

        self._key_bytes = _KeyBytes(config, join_key)
        self._path = online_store._get_db_path(config)
        versioning = config.registry.enable_online_feature_view_versioning
        tables = [_quote_id(_table_id(config.project, v, versioning)) for v in views]
        self._n_views = len(tables)
        self._one = " UNION ALL ".join(
            f"SELECT {j}, feature_name, value FROM {t} WHERE entity_key = ?" for j, t in enumerate(tables)
        )
        self._tables = tables
        self._local = threading.local()

    def _conn(self, nonblocking: bool) -> sqlite3.Connection:
        name = "nb" if nonblocking else "blocking"
        conn = getattr(self._local, name, None)
        if conn is None:
            uri = f"file:{quote(str(self._path))}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, timeout=0.0 if nonblocking else self.BUSY_WAIT_S)
            setattr(self._local, name, conn)
        return conn

    def fetch(self, ids: Sequence[str], nonblocking: bool = False) -> list[ViewRows]:
        """Per view, per id: {feature name: Value bytes}."""
        keys = [self._key_bytes(i) for i in ids]
        out: list[ViewRows] = [[{} for _ in ids] for _ in range(self._n_views)]
        conn = self._conn(nonblocking)
        try:
            if len(keys) == 1:
                rows = conn.execute(self._one, (keys[0],) * self._n_views).fetchall()
                for j, name, value in rows:
                    out[j][0][name] = value
            else:
                where = {k: n for n, k in enumerate(keys)}
                marks = ",".join("?" * len(keys))
                for j, table in enumerate(self._tables):
                    sql = f"SELECT entity_key, feature_name, value FROM {table} WHERE entity_key IN ({marks})"
                    for key, name, value in conn.execute(sql, keys).fetchall():
                        out[j][where[key]][name] = value
        except sqlite3.OperationalError as e:
            if nonblocking and "locked" in str(e):
                raise StoreBusy(str(e)) from e
            raise
        return out


class RedisRowFetcher:
    """Reads the views' fields of each entity's Redis hash in one HMGET (see the module docstring)."""

    def __init__(
        self, online_store: Any, config: Any, views: Sequence[tuple[Any, Sequence[str]]], join_key: str
    ) -> None:
        from feast.infra.online_stores.helpers import _mmh3, compute_versioned_name

        self._key_bytes = _KeyBytes(config, join_key)
        self._client = online_store._get_client(config.online_store)
        self._project = config.project.encode("utf-8")
        versioning = config.registry.enable_online_feature_view_versioning
        fields: list[bytes] = []
        self._layout: list[list[str]] = []
        for view, names in views:
            vname = compute_versioned_name(view, versioning)
            fields += [_mmh3(f"{vname}:{n}") for n in names]
            self._layout.append(list(names))
        self._n_fields = len(fields)
        self._head = b"*%d\r\n$5\r\nHMGET\r\n" % (2 + len(fields))
        self._fields = b"".join(bulk(f) for f in fields)

    def fetch(self, ids: Sequence[str], nonblocking: bool = False) -> list[ViewRows]:
        payload = b"".join(self._head + bulk(self._key_bytes(i) + self._project) + self._fields for i in ids)
        replies = round_trip(self._client, payload, len(ids))
        out: list[ViewRows] = [[] for _ in self._layout]
        for values in replies:
            if len(values) != self._n_fields:
                raise RuntimeError(f"HMGET returned {len(values)} fields, expected {self._n_fields}")
            at = 0
            for j, names in enumerate(self._layout):
                # a missing field is an empty Value, as Feast's own online_read returns it
                out[j].append({n: values[at + k] or b"" for k, n in enumerate(names)})
                at += len(names)
        return out
