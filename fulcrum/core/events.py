"""One validated event, whatever door it came through (Kafka, gRPC IngestEvents, files).

``Event`` is the generic schema of :mod:`fulcrum.core.schema` as a frozen value. The three
constructors below are the only way raw input becomes an ``Event``; each raises
:class:`InvalidEvent` naming the field and the reason:

- :func:`validate_event` (keyword fields, e.g. from a dict or a parquet row),
- :func:`event_from_proto` (a parsed ``fulcrum.v1.Event``; duck-typed, so this module needs no
  protobuf import),
- :func:`event_from_json` (UTF-8 JSON bytes, the documented second wire form).

JSON wire form (one object per Kafka record or line)::

    {"event_id": "e-1", "type": "PURCHASE", "user_id": "u-7", "item_id": "sku-9",
     "quantity": 2, "price": 3.5, "timestamp_ms": 1320969600000, "session_id": "s-1",
     "item_text": ""}

``type`` (or ``event_type``) is the EventType name; ``timestamp_ms`` is Unix epoch milliseconds,
or ``timestamp`` an ISO-8601 string (UTC when no offset is given). Unknown keys are rejected.

Rules: ids non-empty for event_id (and user_id, item_id for behaviour events; item_id and
item_text for ITEM_UPSERT) and at most MAX_ID_LENGTH characters; a known type; quantity and price
finite, in [0, MAX_QUANTITY] and >= 0; timestamp from 2000-01-01 up to one day after ``now``; ids
and item text valid Unicode (no lone surrogates).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fulcrum.core.schema import MAX_ID_LENGTH, MAX_ITEM_TEXT_LENGTH, MAX_QUANTITY, EventType

#: 2000-01-01T00:00:00Z in epoch milliseconds: anything earlier is a unit or clock mistake.
MIN_TIMESTAMP_MS = 946_684_800_000
#: How far ahead of the receiver's clock an event may be stamped.
MAX_FUTURE_MS = 24 * 3600 * 1000

#: protobuf enum numbers of fulcrum.v1.EventType (tests/core/test_events.py proves they match the proto).
WIRE_EVENT_TYPES: dict[int, EventType] = {
    1: EventType.VIEW,
    2: EventType.CLICK,
    3: EventType.ADD_TO_CART,
    4: EventType.PURCHASE,
    5: EventType.CANCEL,
    6: EventType.DISLIKE,
    7: EventType.IMPRESSION,
    8: EventType.ITEM_UPSERT,
}
WIRE_NUMBER: dict[EventType, int] = {t: n for n, t in WIRE_EVENT_TYPES.items()}
_BY_NAME: dict[str, EventType] = {t.value: t for t in EventType}


class InvalidEvent(ValueError):
    """An event that must not be applied. ``field`` names the culprit, ``kind`` is a short,
    bounded code (for metrics labels) and ``reason`` the human sentence."""

    def __init__(self, field: str, reason: str, kind: str = "invalid", event_id: str = "") -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.kind = kind
        self.event_id = event_id

    @property
    def code(self) -> str:
        """``field:kind``, e.g. ``quantity:out_of_range`` -- a label from a fixed set: an unknown
        JSON key is the sender's text, so it is never a label of its own (``unknown:unknown_field``)."""
        field = "unknown" if self.kind == "unknown_field" else self.field
        return f"{field}:{self.kind}"


@dataclass(frozen=True, slots=True)
class Event:
    event_id: str
    event_type: EventType
    user_id: str
    item_id: str
    quantity: float
    price: float
    timestamp_ms: int
    session_id: str = ""
    item_text: str = ""

    @property
    def is_item_upsert(self) -> bool:
        return self.event_type is EventType.ITEM_UPSERT


def _check_id(field: str, value: object, required: bool, event_id: str) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidEvent(field, f"must be a string, got {type(value).__name__}", "wrong_type", event_id)
    if not value:
        if required:
            raise InvalidEvent(field, "is required and empty", "missing", event_id)
        return value
    if len(value) > MAX_ID_LENGTH:
        raise InvalidEvent(
            field, f"is {len(value)} characters, the limit is {MAX_ID_LENGTH}", "too_long", event_id
        )
    _check_unicode(field, value, event_id)
    return value


def _check_unicode(field: str, value: str, event_id: str) -> None:
    """Reject text that has no UTF-8 form (a lone UTF-16 surrogate such as JSON's ``"\\ud800"``):
    every store, key and topic downstream needs the bytes."""
    if value.isascii():
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidEvent(
            field, f"is not valid Unicode (a lone surrogate at character {e.start})", "bad_unicode", event_id
        ) from None


def _check_amount(field: str, value: object, event_id: str) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEvent(field, f"must be a number, got {type(value).__name__}", "wrong_type", event_id)
    number = float(value)
    if not math.isfinite(number):
        raise InvalidEvent(field, f"must be finite, got {number}", "not_finite", event_id)
    if number < 0 or number > MAX_QUANTITY:
        raise InvalidEvent(field, f"{number:g} is outside [0, {MAX_QUANTITY:g}]", "out_of_range", event_id)
    return number


def _check_type(value: object, event_id: str) -> EventType:
    if isinstance(value, EventType):
        return value
    if isinstance(value, bool):
        raise InvalidEvent("type", f"must be an event type name, got {value!r}", "unknown", event_id)
    if isinstance(value, int):
        found = WIRE_EVENT_TYPES.get(value)
        if found is None:
            what = "unspecified" if value == 0 else f"unknown number {value}"
            raise InvalidEvent("type", f"{what}; expected one of {', '.join(_BY_NAME)}", "unknown", event_id)
        return found
    if isinstance(value, str):
        found = _BY_NAME.get(value.upper())
        if found is None:
            shown = value if len(value) <= 40 else value[:40] + "..."
            raise InvalidEvent(
                "type", f"unknown {shown!r}; expected one of {', '.join(_BY_NAME)}", "unknown", event_id
            )
        return found
    raise InvalidEvent("type", "is required", "missing", event_id)


def validate_event(
    *,
    event_id: object,
    event_type: object,
    user_id: object = "",
    item_id: object = "",
    quantity: object = 0.0,
    price: object = 0.0,
    timestamp_ms: object,
    session_id: object = "",
    item_text: object = "",
    now_ms: int | None = None,
) -> Event:
    """Check every rule and return the frozen ``Event``; raise ``InvalidEvent`` on the first
    broken one. ``now_ms`` (default: the clock) bounds how far in the future a timestamp may be."""
    eid = _check_id("event_id", event_id, True, "")
    etype = _check_type(event_type, eid)
    upsert = etype is EventType.ITEM_UPSERT
    uid = _check_id("user_id", user_id, not upsert, eid)
    iid = _check_id("item_id", item_id, True, eid)
    sid = _check_id("session_id", session_id, False, eid)
    qty = _check_amount("quantity", quantity, eid)
    prc = _check_amount("price", price, eid)

    if timestamp_ms is None:
        raise InvalidEvent("timestamp_ms", "is required", "missing", eid)
    if isinstance(timestamp_ms, bool) or not isinstance(timestamp_ms, int):
        if isinstance(timestamp_ms, float) and math.isfinite(timestamp_ms) and timestamp_ms.is_integer():
            timestamp_ms = int(timestamp_ms)
        else:
            raise InvalidEvent(
                "timestamp_ms", f"must be integer epoch milliseconds, got {timestamp_ms!r}", "wrong_type", eid
            )
    if now_ms is None:
        now_ms = int(time.time() * 1000)
    if timestamp_ms < MIN_TIMESTAMP_MS:
        raise InvalidEvent(
            "timestamp_ms",
            f"{timestamp_ms} is before 2000-01-01 (epoch milliseconds expected)",
            "out_of_range",
            eid,
        )
    if timestamp_ms > now_ms + MAX_FUTURE_MS:
        raise InvalidEvent(
            "timestamp_ms", f"{timestamp_ms} is more than a day in the future", "out_of_range", eid
        )

    if item_text is None:
        item_text = ""
    if not isinstance(item_text, str):
        raise InvalidEvent(
            "item_text", f"must be a string, got {type(item_text).__name__}", "wrong_type", eid
        )
    if upsert and not item_text.strip():
        raise InvalidEvent("item_text", "ITEM_UPSERT needs the item's text", "missing", eid)
    if len(item_text) > MAX_ITEM_TEXT_LENGTH:
        raise InvalidEvent(
            "item_text",
            f"is {len(item_text)} characters, the limit is {MAX_ITEM_TEXT_LENGTH}",
            "too_long",
            eid,
        )
    _check_unicode("item_text", item_text, eid)
    return Event(eid, etype, uid, iid, qty, prc, timestamp_ms, sid, item_text)


def event_from_proto(message: Any, now_ms: int | None = None) -> Event:
    """A parsed ``fulcrum.v1.Event`` (anything with its attributes) to a validated ``Event``.

    Protobuf fields are already typed, so the common all-valid case is checked inline (ingestion
    runs this tens of thousands of times a second); anything doubtful goes through
    :func:`validate_event`, which finds and names the broken rule."""
    m = message
    eid, uid, iid, sid = m.event_id, m.user_id, m.item_id, m.session_id
    etype = WIRE_EVENT_TYPES.get(m.type)
    qty, prc, ts, text = m.quantity, m.price, m.timestamp_ms, m.item_text
    if now_ms is None:
        now_ms = int(time.time() * 1000)
    if (
        etype is not None
        and etype is not EventType.ITEM_UPSERT
        and 0 < len(eid) <= MAX_ID_LENGTH
        and 0 < len(uid) <= MAX_ID_LENGTH
        and 0 < len(iid) <= MAX_ID_LENGTH
        and len(sid) <= MAX_ID_LENGTH
        and not text
        and 0.0 <= qty <= MAX_QUANTITY
        and 0.0 <= prc <= MAX_QUANTITY
        and MIN_TIMESTAMP_MS <= ts <= now_ms + MAX_FUTURE_MS
    ):
        return Event(eid, etype, uid, iid, float(qty), float(prc), int(ts), sid, "")
    return validate_event(
        event_id=eid,
        event_type=m.type,
        user_id=uid,
        item_id=iid,
        quantity=qty,
        price=prc,
        timestamp_ms=ts,
        session_id=sid,
        item_text=text,
        now_ms=now_ms,
    )


_JSON_KEYS = frozenset(
    {
        "event_id",
        "type",
        "event_type",
        "user_id",
        "item_id",
        "quantity",
        "price",
        "timestamp_ms",
        "timestamp",
        "session_id",
        "item_text",
    }
)


def _iso_to_ms(value: object, event_id: str) -> int:
    if not isinstance(value, str):
        raise InvalidEvent(
            "timestamp", f"must be an ISO-8601 string, got {type(value).__name__}", "wrong_type", event_id
        )
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise InvalidEvent("timestamp", f"{value[:40]!r} is not ISO-8601", "wrong_type", event_id) from e
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def event_from_json(payload: bytes | str, now_ms: int | None = None) -> Event:
    """UTF-8 JSON (the format in the module doc) to a validated ``Event``."""
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidEvent("payload", f"not valid JSON ({e.__class__.__name__})", "undecodable") from e
    except RecursionError as e:  # an event is flat: deep nesting is hostile or broken input
        raise InvalidEvent("payload", "JSON nested too deep to be an event", "too_deep") from e
    if not isinstance(doc, dict):
        raise InvalidEvent("payload", f"JSON must be an object, got {type(doc).__name__}", "not_object")
    raw_id = doc.get("event_id")
    eid: str = raw_id if isinstance(raw_id, str) else ""
    unknown = sorted(set(doc) - _JSON_KEYS)
    if unknown:
        raise InvalidEvent(
            unknown[0], f"unknown field; allowed: {', '.join(sorted(_JSON_KEYS))}", "unknown_field", eid
        )
    etype = doc.get("type", doc.get("event_type"))
    if "timestamp_ms" in doc:
        ts = doc["timestamp_ms"]
    elif "timestamp" in doc:
        ts = _iso_to_ms(doc["timestamp"], eid)
    else:
        ts = None
    return validate_event(
        event_id=doc.get("event_id"),
        event_type=etype,
        user_id=doc.get("user_id", ""),
        item_id=doc.get("item_id", ""),
        quantity=doc.get("quantity", 0.0),
        price=doc.get("price", 0.0),
        timestamp_ms=ts,
        session_id=doc.get("session_id", ""),
        item_text=doc.get("item_text", ""),
        now_ms=now_ms,
    )


def event_to_json(event: Event) -> bytes:
    """The JSON wire form of an event (the inverse of :func:`event_from_json`)."""
    return json.dumps(
        {
            "event_id": event.event_id,
            "type": event.event_type.value,
            "user_id": event.user_id,
            "item_id": event.item_id,
            "quantity": event.quantity,
            "price": event.price,
            "timestamp_ms": event.timestamp_ms,
            "session_id": event.session_id,
            "item_text": event.item_text,
        },
        separators=(",", ":"),
    ).encode()
