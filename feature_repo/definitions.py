"""Fulcrum's Feast definitions: entities, feature views (each with a PushSource backed by a parquet
file under data/), and the feature services that Recommend, Search and training read.

Every name comes from fulcrum/core/feature_names.py, which the batch job, the training reader and
the online client import too. The parquet sources are written by ``fulcrum features apply``
(offline/features/batch.py); the push sources are fed by the online sink (online/features/sink.py).

TTL is 100 years, i.e. forever: a user's last snapshot stays valid however long ago it was written,
for online reads and point-in-time training retrieval alike. (Not 0, Feast's own "forever": with
ttl 0 the first ``feast materialize-incremental`` only looks back 52 weeks.)
"""

from __future__ import annotations

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, PushSource, ValueType
from feast.types import Array, Float32, Float64, Int64, String

from fulcrum.core import feature_names as fn

TTL = timedelta(days=36_500)

user = Entity(
    name=fn.USER_ENTITY,
    join_keys=[fn.USER_KEY],
    value_type=ValueType.STRING,
    description="A shopper (the events table's user_id).",
)
item = Entity(
    name=fn.ITEM_ENTITY,
    join_keys=[fn.ITEM_KEY],
    value_type=ValueType.STRING,
    description="A catalogue item (the events table's item_id).",
)


def _push_source(view: str) -> PushSource:
    batch = FileSource(
        name=f"{view}_batch",
        path=f"data/{fn.batch_file_name(view)}",
        timestamp_field=fn.EVENT_TS,
    )
    return PushSource(name=fn.push_source_name(view), batch_source=batch)


def _view(name: str, entity: Entity, fields: list[Field], description: str) -> FeatureView:
    return FeatureView(
        name=name,
        entities=[entity],
        ttl=TTL,
        schema=[Field(name=fn.VIEW_KEY[name], dtype=String), *fields],
        source=_push_source(name),
        online=True,
        description=description,
    )


_user_fields = [Field(name=f, dtype=Int64) for f in fn.COUNT_FEATURES] + [
    Field(name=fn.AS_OF, dtype=Float64),
    Field(name=fn.LAST_ACTIVE, dtype=Float64),
    Field(name=fn.DAILY_COUNTS, dtype=String),
    Field(name=fn.RECENT_ITEMS, dtype=Array(String)),
    Field(name=fn.RECENT_TYPES, dtype=Array(String)),
    Field(name=fn.RECENT_TIMES, dtype=Array(Float64)),
    Field(name=fn.BOUGHT, dtype=Array(String)),
    Field(name=fn.BOUGHT_TIMES, dtype=Array(Float64)),
    Field(name=fn.CANCELLED, dtype=Array(String)),
    Field(name=fn.CANCELLED_TIMES, dtype=Array(Float64)),
    Field(name=fn.DISLIKED, dtype=Array(String)),
    Field(name=fn.DISLIKED_TIMES, dtype=Array(Float64)),
    Field(name=fn.IGNORED, dtype=String),
]
user_behaviour = _view(
    fn.USER_BEHAVIOUR_VIEW,
    user,
    _user_fields,
    "Counts per event type (7d/30d/all), last activity, recent sequence, bought/cancelled/disliked "
    "sets and impressions without a click; the state of fulcrum.core.user_state.",
)
user_embedding = _view(
    fn.USER_EMBEDDING_VIEW,
    user,
    [Field(name=fn.USER_EMBEDDING, dtype=Array(Float32))],
    "The user embedding, when one has been pushed.",
)
item_stats = _view(
    fn.ITEM_STATS_VIEW,
    item,
    [
        Field(name=fn.ITEM_AS_OF, dtype=Float64),
        Field(name=fn.ITEM_PURCHASES, dtype=Int64),
        Field(name=fn.ITEM_IMPRESSIONS, dtype=Int64),
        Field(name=fn.ITEM_CLICKS, dtype=Int64),
        Field(name=fn.ITEM_CANCELS, dtype=Int64),
        Field(name=fn.ITEM_CANCEL_RATE, dtype=Float64),
        Field(name=fn.ITEM_PRICE, dtype=Float64),
        Field(name=fn.ITEM_FIRST_SEEN, dtype=Float64),
        Field(name=fn.ITEM_POPULARITY_RANK, dtype=Int64),
    ],
    "Purchases, impressions and clicks (exploration), cancellation rate, price, first-seen time, "
    "popularity rank; the state of fulcrum.core.item_state.",
)
item_embedding = _view(
    fn.ITEM_EMBEDDING_VIEW,
    item,
    [Field(name=fn.ITEM_EMBEDDING, dtype=Array(Float32)), Field(name=fn.ITEM_TEXT, dtype=String)],
    "Item embedding (the bundle's item encoder) and the item text it was computed from.",
)

_VIEWS = {v.name: v for v in (user_behaviour, user_embedding, item_stats, item_embedding)}


def _service(name: str) -> FeatureService:
    return FeatureService(name=name, features=[_VIEWS[v] for v in fn.SERVICES[name]])


recommend_user = _service(fn.RECOMMEND_USER_SERVICE)
recommend_items = _service(fn.RECOMMEND_ITEMS_SERVICE)
search_user = _service(fn.SEARCH_USER_SERVICE)
search_items = _service(fn.SEARCH_ITEMS_SERVICE)
training_user = _service(fn.TRAINING_USER_SERVICE)
training_ranking = _service(fn.TRAINING_RANKING_SERVICE)
