"""A lean read path for the serving hot loop: the feature service's views, read straight from the
configured Feast online store (``OnlineStore.online_read``), decoded to plain Python values.

``FeatureStore.get_online_features`` rebuilds the request plan on every call (feature service
resolution, entity validation, on-demand-view checks, the response protobuf and its conversion
to a dict); for a fixed feature service most of that is the same every time. This reader resolves
the service's feature views and feature names once, then per call only serialises the entity keys,
lets the online store (SQLite or Redis, whatever the repo's configuration says) fetch the rows, and
decodes the values. Same store, same keys, same bytes: tests check it returns exactly what
``get_online_features`` returns. ``benchmarks/bench_features.py`` measures both.

For the plain SQLite and Redis layouts the rows are fetched by ``online/features/row_fetch.py``
(the stored ``Value`` bytes read directly: one statement / one HMGET for all the views, no
per-row timestamp parsing; tests/online/features/test_fast_read.py proves the bytes equal ``online_read``'s);
any other online store goes through its ``online_read``. ``backend`` says which.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from online.features.row_fetch import (
    RedisRowFetcher,
    SqliteRowFetcher,
    StoreBusy,
    ViewRows,
    is_plain_redis,
    is_plain_sqlite,
)

if TYPE_CHECKING:
    from feast import FeatureStore


def decode_value(v: Any) -> Any:
    """A ``feast.types.Value`` protobuf -> a Python value (None for null / unset)."""
    kind = v.WhichOneof("val")
    if kind is None or kind == "null_val":
        return None
    x = getattr(v, kind)
    if kind.endswith("_list_val"):
        return list(x.val)
    return x


class FastOnlineReader:
    """Reads a fixed set of feature views (one join key) for a batch of entity ids."""

    def __init__(
        self, store: FeatureStore, views: Sequence[tuple[str, Sequence[str]]], direct: bool = True
    ) -> None:
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        self._EntityKey, self._Value = EntityKey, Value
        self._config = store.config
        self._online = store._get_provider().online_store  # the configured OnlineStore (SQLite, Redis)
        self.views: list[tuple[Any, list[str], str]] = []
        for name, features in views:
            view = store.get_feature_view(name)
            keys = [e.name for e in view.entity_columns]
            if len(keys) != 1:
                raise ValueError(f"feature view {view.name}: expected one join key, got {keys}")
            self.views.append((view, list(features), keys[0]))
        if not self.views:
            raise ValueError("views: at least one feature view is needed")
        self.key = self.views[0][2]
        if any(k != self.key for _, _, k in self.views):
            raise ValueError(f"views {[v.name for v, _, _ in self.views]} have different join keys")
        self.features: list[str] = [n for _, names, _ in self.views for n in names]
        #: how rows are fetched: "sqlite" / "redis" (row_fetch.py) or "feast" (``online_read``)
        self.backend = "feast"
        self._fetcher: SqliteRowFetcher | RedisRowFetcher | None = None
        if direct and is_plain_sqlite(self._online, self._config):
            views_only = [v for v, _, _ in self.views]
            self._fetcher = SqliteRowFetcher(self._online, self._config, views_only, self.key)
            self.backend = "sqlite"
        elif direct and is_plain_redis(self._online, self._config):
            self._fetcher = RedisRowFetcher(
                self._online, self._config, [(v, n) for v, n, _ in self.views], self.key
            )
            self.backend = "redis"

    @classmethod
    def for_service(cls, store: FeatureStore, service: str, direct: bool = True) -> FastOnlineReader:
        """The views and features a feature service projects."""
        fs = store.get_feature_service(service)
        return cls(
            store, [(p.name, [f.name for f in p.features]) for p in fs.feature_view_projections], direct
        )

    @property
    def may_block(self) -> bool:
        """True when ``read_one(..., nonblocking=True)`` is unavailable (network or plug-in store):
        only a SQLite file can be read on the event loop without waiting on anything."""
        return self.backend != "sqlite"

    def fetch(self, ids: Sequence[str], nonblocking: bool = False) -> list[ViewRows]:
        """Per view, per id: {feature name: stored ``Value`` bytes} ({} = no row)."""
        ids = list(ids)
        if nonblocking and self.may_block:
            raise StoreBusy(f"a {self.backend} read may block (only a SQLite file read never waits)")
        if self._fetcher is not None:
            return self._fetcher.fetch(ids, nonblocking)
        entity_keys = [
            self._EntityKey(join_keys=[self.key], entity_values=[self._Value(string_val=i)]) for i in ids
        ]
        out: list[ViewRows] = []
        for view, names, _ in self.views:
            # a fresh list: the Redis store appends its "_ts" key to the list it is given
            rows = self._online.online_read(self._config, view, entity_keys, list(names))
            out.append([{k: v.SerializeToString() for k, v in (values or {}).items()} for _, values in rows])
        return out

    def read(self, ids: Sequence[str]) -> dict[str, list[Any]]:
        """Column-wise values like ``OnlineResponse.to_dict()``: {key: ids, feature: [value|None, ...]}."""
        ids = list(ids)
        out: dict[str, list[Any]] = {self.key: ids}
        parse = self._Value.FromString
        for (_, names, _), rows in zip(self.views, self.fetch(ids), strict=True):
            for n in names:
                out[n] = [None if (b := row.get(n)) is None else decode_value(parse(b)) for row in rows]
        return out

    def read_one(self, entity_id: str, nonblocking: bool = False) -> dict[str, Any]:
        """{feature: value | None} of one entity (``StoreBusy`` when ``nonblocking`` cannot answer
        without waiting)."""
        return self.decode_one(self.fetch([entity_id], nonblocking))

    def decode_one(self, fetched: list[ViewRows]) -> dict[str, Any]:
        """``read_one``'s values from ``fetch([one id])``'s bytes (a pure function of them)."""
        parse = self._Value.FromString
        out: dict[str, Any] = {}
        for (_, names, _), rows in zip(self.views, fetched, strict=True):
            row = rows[0]
            for n in names:
                b = row.get(n)
                out[n] = None if b is None else decode_value(parse(b))
        return out
