"""``OnlineRowWriter``: writes plain feature rows of one feature view straight to the configured
online store (``OnlineStore.online_write_batch``), in one call per batch.

``FeatureStore.push(..., to=ONLINE)`` takes a DataFrame and, on every call, lists the registry's
feature services, validates the frame, converts it to Arrow and then to ``Value`` protobufs with
Feast's generic type inference, before calling the same ``online_write_batch``. For the event
sink's fixed views the target types are known up front, so this writer resolves the view and each
feature's protobuf field once and builds the ``Value`` messages directly. The bytes written are
the ones the push path writes (null ``Value`` for None / NaN, a list value for a list, event
timestamp rounded to the microsecond like the push frame's); tests/test_feature_merge.py checks
them against Feast's own conversion.

SQLite: Feast's ``SqliteOnlineStore.online_write_batch`` runs one ``execute`` per (entity,
feature). For the plain SQLite layout (no vector search, no ``value_num`` column) this writer runs
the same upsert, on the same connection and table, with the same column values, as ONE
``executemany`` in one transaction. Any other store (Redis ...) gets Feast's own
``online_write_batch`` (Redis already pipelines it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from feast import FeatureStore

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Feast dtype name -> (Value field, list message name or None, scalar converter)
_SCALARS: dict[str, tuple[str, Any]] = {
    "Int64": ("int64_val", int),
    "Int32": ("int32_val", int),
    "Float64": ("double_val", float),
    "Float32": ("float_val", float),
    "String": ("string_val", str),
    "Bool": ("bool_val", bool),
}
_LISTS: dict[str, tuple[str, str]] = {
    "Array(Int64)": ("int64_list_val", "Int64List"),
    "Array(Int32)": ("int32_list_val", "Int32List"),
    "Array(Float64)": ("double_list_val", "DoubleList"),
    "Array(Float32)": ("float_list_val", "FloatList"),
    "Array(String)": ("string_list_val", "StringList"),
    "Array(Bool)": ("bool_list_val", "BoolList"),
}


def timestamp_of(seconds: float) -> datetime:
    """Epoch seconds -> UTC datetime rounded to the microsecond (the push frame's ``_stamp``)."""
    return _EPOCH + timedelta(microseconds=int(round(float(seconds) * 1e6)))


def _is_null(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


class OnlineRowWriter:
    """Builds and writes the online rows of one feature view (single string join key)."""

    def __init__(self, store: FeatureStore, view_name: str, features: Sequence[str]) -> None:
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
        dtypes = {f.name: str(f.dtype) for f in self.view.features}
        self._encoders: list[tuple[str, Any]] = []
        for name in features:
            if name not in dtypes:
                raise ValueError(f"feature view {view_name} has no feature {name!r}")
            self._encoders.append((name, self._encoder(name, dtypes[name])))

    def _encoder(self, name: str, dtype: str) -> Any:
        Value = self._Value
        if dtype in _SCALARS:
            field, conv = _SCALARS[dtype]

            def scalar(v: Any) -> Any:
                return Value() if _is_null(v) else Value(**{field: conv(v)})

            return scalar
        if dtype in _LISTS:
            field, msg = _LISTS[dtype]
            List = getattr(self._pb, msg)

            def listed(v: Any) -> Any:
                return Value() if v is None else Value(**{field: List(val=list(v))})

            return listed
        raise ValueError(f"feature {name}: dtype {dtype} is not supported by the direct online writer")

    def rows(
        self, ids: Sequence[str], rows: Sequence[Mapping[str, Any]], as_of_s: Sequence[float]
    ) -> list[tuple[Any, dict[str, Any], datetime, None]]:
        """``online_write_batch`` data: (entity key, {feature: Value}, event timestamp, None) per id."""
        out = []
        key, Value, EntityKey = self.key, self._Value, self._EntityKey
        for i, row, ts in zip(ids, rows, as_of_s, strict=True):
            ek = EntityKey(join_keys=[key], entity_values=[Value(string_val=i)])
            out.append((ek, {n: enc(row.get(n)) for n, enc in self._encoders}, timestamp_of(ts), None))
        return out

    def write(self, ids: Sequence[str], rows: Sequence[Mapping[str, Any]], as_of_s: Sequence[float]) -> None:
        """One write of all the rows (nothing when ``ids`` is empty)."""
        if not ids:
            return
        data = self.rows(ids, rows, as_of_s)
        if self._sqlite_plain():
            self._sqlite_write(data)
        else:
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

    def _sqlite_write(self, data: list[tuple[Any, dict[str, Any], datetime, None]]) -> None:
        """``SqliteOnlineStore.online_write_batch`` for the plain layout, as one executemany."""
        from feast.infra.key_encoding_utils import serialize_entity_key
        from feast.infra.online_stores.helpers import extract_text_and_num
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
        params = []
        for entity_key, values, ts, created in data:
            key_bin = serialize_entity_key(entity_key, entity_key_serialization_version=version)
            naive = ts.astimezone(UTC).replace(tzinfo=None)
            for name, val in values.items():
                params.append(
                    (
                        key_bin,
                        name,
                        val.SerializeToString(),
                        extract_text_and_num(val, False)[0],
                        naive,
                        created,
                    )
                )
        with conn:
            conn.executemany(sql, params)
