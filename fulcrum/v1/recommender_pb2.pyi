from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    VIEW: _ClassVar[EventType]
    CLICK: _ClassVar[EventType]
    ADD_TO_CART: _ClassVar[EventType]
    PURCHASE: _ClassVar[EventType]
    CANCEL: _ClassVar[EventType]
    DISLIKE: _ClassVar[EventType]
    IMPRESSION: _ClassVar[EventType]
    ITEM_UPSERT: _ClassVar[EventType]

class Reason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REASON_UNSPECIFIED: _ClassVar[Reason]
    PERSONALISED: _ClassVar[Reason]
    EXPLORATION: _ClassVar[Reason]
    COLD_START: _ClassVar[Reason]
    POPULAR: _ClassVar[Reason]
    QUERY_MATCH: _ClassVar[Reason]
    NEW_ITEM: _ClassVar[Reason]
EVENT_TYPE_UNSPECIFIED: EventType
VIEW: EventType
CLICK: EventType
ADD_TO_CART: EventType
PURCHASE: EventType
CANCEL: EventType
DISLIKE: EventType
IMPRESSION: EventType
ITEM_UPSERT: EventType
REASON_UNSPECIFIED: Reason
PERSONALISED: Reason
EXPLORATION: Reason
COLD_START: Reason
POPULAR: Reason
QUERY_MATCH: Reason
NEW_ITEM: Reason

class Event(_message.Message):
    __slots__ = ("event_id", "type", "user_id", "item_id", "quantity", "price", "timestamp_ms", "session_id", "item_text")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_TEXT_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    type: EventType
    user_id: str
    item_id: str
    quantity: float
    price: float
    timestamp_ms: int
    session_id: str
    item_text: str
    def __init__(self, event_id: _Optional[str] = ..., type: _Optional[_Union[EventType, str]] = ..., user_id: _Optional[str] = ..., item_id: _Optional[str] = ..., quantity: _Optional[float] = ..., price: _Optional[float] = ..., timestamp_ms: _Optional[int] = ..., session_id: _Optional[str] = ..., item_text: _Optional[str] = ...) -> None: ...

class EventBatch(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ...) -> None: ...

class ScoredItem(_message.Message):
    __slots__ = ("item_id", "score", "reason")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    score: float
    reason: Reason
    def __init__(self, item_id: _Optional[str] = ..., score: _Optional[float] = ..., reason: _Optional[_Union[Reason, str]] = ...) -> None: ...

class RecommendOptions(_message.Message):
    __slots__ = ("exploration_share", "diversity", "allow_repurchase", "seed")
    EXPLORATION_SHARE_FIELD_NUMBER: _ClassVar[int]
    DIVERSITY_FIELD_NUMBER: _ClassVar[int]
    ALLOW_REPURCHASE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    exploration_share: float
    diversity: float
    allow_repurchase: bool
    seed: int
    def __init__(self, exploration_share: _Optional[float] = ..., diversity: _Optional[float] = ..., allow_repurchase: _Optional[bool] = ..., seed: _Optional[int] = ...) -> None: ...

class RecommendRequest(_message.Message):
    __slots__ = ("user_id", "k", "session_item_ids", "exclude_item_ids", "options")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    SESSION_ITEM_IDS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_ITEM_IDS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    k: int
    session_item_ids: _containers.RepeatedScalarFieldContainer[str]
    exclude_item_ids: _containers.RepeatedScalarFieldContainer[str]
    options: RecommendOptions
    def __init__(self, user_id: _Optional[str] = ..., k: _Optional[int] = ..., session_item_ids: _Optional[_Iterable[str]] = ..., exclude_item_ids: _Optional[_Iterable[str]] = ..., options: _Optional[_Union[RecommendOptions, _Mapping]] = ...) -> None: ...

class RecommendResponse(_message.Message):
    __slots__ = ("items", "bundle_version", "degraded", "degraded_reason")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_REASON_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[ScoredItem]
    bundle_version: str
    degraded: bool
    degraded_reason: str
    def __init__(self, items: _Optional[_Iterable[_Union[ScoredItem, _Mapping]]] = ..., bundle_version: _Optional[str] = ..., degraded: _Optional[bool] = ..., degraded_reason: _Optional[str] = ...) -> None: ...

class SearchFilters(_message.Message):
    __slots__ = ("min_price", "max_price", "exclude_item_ids")
    MIN_PRICE_FIELD_NUMBER: _ClassVar[int]
    MAX_PRICE_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_ITEM_IDS_FIELD_NUMBER: _ClassVar[int]
    min_price: float
    max_price: float
    exclude_item_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, min_price: _Optional[float] = ..., max_price: _Optional[float] = ..., exclude_item_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("query", "user_id", "k", "filters", "options")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    query: str
    user_id: str
    k: int
    filters: SearchFilters
    options: RecommendOptions
    def __init__(self, query: _Optional[str] = ..., user_id: _Optional[str] = ..., k: _Optional[int] = ..., filters: _Optional[_Union[SearchFilters, _Mapping]] = ..., options: _Optional[_Union[RecommendOptions, _Mapping]] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("items", "bundle_version", "degraded", "degraded_reason")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_REASON_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[ScoredItem]
    bundle_version: str
    degraded: bool
    degraded_reason: str
    def __init__(self, items: _Optional[_Iterable[_Union[ScoredItem, _Mapping]]] = ..., bundle_version: _Optional[str] = ..., degraded: _Optional[bool] = ..., degraded_reason: _Optional[str] = ...) -> None: ...

class Rejection(_message.Message):
    __slots__ = ("event_id", "reason")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    reason: str
    def __init__(self, event_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class IngestSummary(_message.Message):
    __slots__ = ("accepted", "rejected", "duplicates", "rejections")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    rejected: int
    duplicates: int
    rejections: _containers.RepeatedCompositeFieldContainer[Rejection]
    def __init__(self, accepted: _Optional[int] = ..., rejected: _Optional[int] = ..., duplicates: _Optional[int] = ..., rejections: _Optional[_Iterable[_Union[Rejection, _Mapping]]] = ...) -> None: ...

class GetModelInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("bundle_version", "bundle_path", "execution_provider", "created_at", "metrics_json", "catalogue_size", "api_version", "server_version")
    BUNDLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_PATH_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    METRICS_JSON_FIELD_NUMBER: _ClassVar[int]
    CATALOGUE_SIZE_FIELD_NUMBER: _ClassVar[int]
    API_VERSION_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    bundle_version: str
    bundle_path: str
    execution_provider: str
    created_at: str
    metrics_json: str
    catalogue_size: int
    api_version: str
    server_version: str
    def __init__(self, bundle_version: _Optional[str] = ..., bundle_path: _Optional[str] = ..., execution_provider: _Optional[str] = ..., created_at: _Optional[str] = ..., metrics_json: _Optional[str] = ..., catalogue_size: _Optional[int] = ..., api_version: _Optional[str] = ..., server_version: _Optional[str] = ...) -> None: ...

class ReloadModelRequest(_message.Message):
    __slots__ = ("bundle_path", "version", "allow_rollback")
    BUNDLE_PATH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ALLOW_ROLLBACK_FIELD_NUMBER: _ClassVar[int]
    bundle_path: str
    version: str
    allow_rollback: bool
    def __init__(self, bundle_path: _Optional[str] = ..., version: _Optional[str] = ..., allow_rollback: _Optional[bool] = ...) -> None: ...

class ReloadModelResponse(_message.Message):
    __slots__ = ("bundle_version", "previous_version")
    BUNDLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_VERSION_FIELD_NUMBER: _ClassVar[int]
    bundle_version: str
    previous_version: str
    def __init__(self, bundle_version: _Optional[str] = ..., previous_version: _Optional[str] = ...) -> None: ...

class ForgetUserRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class ForgetUserResponse(_message.Message):
    __slots__ = ("offline_events", "online_entries", "idempotency_keys", "batch_rows")
    OFFLINE_EVENTS_FIELD_NUMBER: _ClassVar[int]
    ONLINE_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEYS_FIELD_NUMBER: _ClassVar[int]
    BATCH_ROWS_FIELD_NUMBER: _ClassVar[int]
    offline_events: int
    online_entries: int
    idempotency_keys: int
    batch_rows: int
    def __init__(self, offline_events: _Optional[int] = ..., online_entries: _Optional[int] = ..., idempotency_keys: _Optional[int] = ..., batch_rows: _Optional[int] = ...) -> None: ...
