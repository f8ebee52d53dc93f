"""The event and item schema shared by offline and online.

One place defines what an event is; the protobuf enum in protos/fulcrum/v1/recommender.proto is
its wire form, and the column names below are its table form (parquet, Feast sources).
Nothing here depends on any one shop's data: adapters in offline/data/ map raw files onto it.
"""

from __future__ import annotations

from enum import Enum


class EventType(str, Enum):  # noqa: UP042 (str() of members is relied on as-is)
    """Event types; the names match the protobuf enum ``fulcrum.v1.EventType``."""

    VIEW = "VIEW"
    CLICK = "CLICK"
    ADD_TO_CART = "ADD_TO_CART"
    PURCHASE = "PURCHASE"
    CANCEL = "CANCEL"
    DISLIKE = "DISLIKE"
    IMPRESSION = "IMPRESSION"
    ITEM_UPSERT = "ITEM_UPSERT"


EVENT_TYPES: tuple[str, ...] = tuple(e.value for e in EventType)
#: Event types a user produces (ITEM_UPSERT comes from the catalogue, not a user).
BEHAVIOUR_TYPES: tuple[str, ...] = tuple(e.value for e in EventType if e is not EventType.ITEM_UPSERT)
#: Small integer codes for event types, used as model inputs (0 is padding).
EVENT_TYPE_CODE: dict[str, int] = {name: i + 1 for i, name in enumerate(BEHAVIOUR_TYPES)}

# ---- the events table (parquet written by `fulcrum data prepare`) ----------------------------
EVENT_ID = "event_id"
USER_ID = "user_id"
ITEM_ID = "item_id"
EVENT_TYPE = "event_type"
QUANTITY = "quantity"
PRICE = "price"
TIMESTAMP = "timestamp"  # datetime64[ns, UTC]
SESSION_ID = "session_id"
SPLIT = "split"  # "train" or "test"

EVENT_COLUMNS: tuple[str, ...] = (
    EVENT_ID, USER_ID, ITEM_ID, EVENT_TYPE, QUANTITY, PRICE, TIMESTAMP, SESSION_ID, SPLIT,
)

# ---- the items table ---------------------------------------------------------------------------
ITEM_TEXT = "text"
FIRST_SEEN = "first_seen"  # datetime64[ns, UTC]
ITEM_COLUMNS: tuple[str, ...] = (ITEM_ID, ITEM_TEXT, PRICE, FIRST_SEEN)

# ---- file names inside a prepared data folder ---------------------------------------------------
EVENTS_FILE = "events.parquet"
ITEMS_FILE = "items.parquet"
SPLIT_FILE = "split.json"

# ---- limits applied at every door (gRPC, Kafka, files) ------------------------------------------
MAX_ID_LENGTH = 128
MAX_ITEM_TEXT_LENGTH = 2_000
MAX_QUANTITY = 1_000_000.0
