"""A lean read path for the serving hot loop: the feature service's views, read straight from the
configured Feast online store (``OnlineStore.online_read``), decoded to plain Python values.

``FeatureStore.get_online_features`` rebuilds the request plan on every call (feature service
resolution, entity validation, on-demand-view checks, the response protobuf and its conversion
to a dict); for a fixed feature service most of that is the same every time. This reader resolves
the service's feature views and feature names once, then per call only serialises the entity keys,
lets the online store (SQLite or Redis, whatever the repo's configuration says) fetch the rows, and
decodes the values. Same store, same keys, same bytes: tests check it returns exactly what
``get_online_features`` returns. ``benchmarks/bench_features.py`` measures both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

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

    def __init__(self, store: FeatureStore, views: Sequence[tuple[str, Sequence[str]]]) -> None:
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

    @classmethod
    def for_service(cls, store: FeatureStore, service: str) -> FastOnlineReader:
        """The views and features a feature service projects."""
        fs = store.get_feature_service(service)
        return cls(store, [(p.name, [f.name for f in p.features]) for p in fs.feature_view_projections])

    def read(self, ids: Sequence[str]) -> dict[str, list[Any]]:
        """Column-wise values like ``OnlineResponse.to_dict()``: {key: ids, feature: [value|None, ...]}."""
        ids = list(ids)
        entity_keys = [
            self._EntityKey(join_keys=[self.key], entity_values=[self._Value(string_val=i)]) for i in ids
        ]
        out: dict[str, list[Any]] = {self.key: ids}
        for view, names, _ in self.views:
            # a fresh list: the Redis store appends its "_ts" key to the list it is given
            rows = self._online.online_read(self._config, view, entity_keys, list(names))
            cols: dict[str, list[Any]] = {n: [None] * len(ids) for n in names}
            for j, (_, values) in enumerate(rows):
                if values:
                    for n in names:
                        v = values.get(n)
                        if v is not None:
                            cols[n][j] = decode_value(v)
            out.update(cols)
        return out
