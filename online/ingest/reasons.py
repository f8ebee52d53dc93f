"""The fixed set of reasons an event is dead-lettered: ``RejectCode``.

Every rejection carries one of these codes (the DLQ's ``code`` field and ``fulcrum-code`` header,
and the only values of the ``reason`` label of ``fulcrum_ingest_rejected_total``), whatever the
input: a hostile record can choose the words of a rejection's human ``reason`` (an unknown JSON key
is named there) but never a new code, so the metric's cardinality is bounded by this enum.

``code_of(err)`` maps an :class:`~fulcrum.core.events.InvalidEvent` (``field:kind``) to its code;
anything the enum does not list (a field added to the schema later, a key chosen by the sender)
falls back to ``payload:unknown_field`` for an unknown key and ``other:invalid`` otherwise.
"""

from __future__ import annotations

from enum import StrEnum

from fulcrum.core.events import InvalidEvent


class RejectCode(StrEnum):
    # the record as a whole
    PAYLOAD_UNDECODABLE = "payload:undecodable"  # not JSON / not a protobuf of the announced kind
    PAYLOAD_TOO_DEEP = "payload:too_deep"  # JSON nested deeper than the parser allows
    PAYLOAD_TOO_LARGE = "payload:too_large"  # over the per-record byte limit, not parsed
    PAYLOAD_NOT_OBJECT = "payload:not_object"  # JSON, but not an object
    PAYLOAD_UNKNOWN_FIELD = "payload:unknown_field"  # a JSON key the schema does not have
    PAYLOAD_DECODER_ERROR = "payload:decoder_error"  # the decoder itself failed (a bug; logged)
    ENCODING_UNKNOWN = "encoding:unknown"  # fulcrum-encoding header not event / event-batch / json
    # the ids
    EVENT_ID_MISSING = "event_id:missing"
    EVENT_ID_WRONG_TYPE = "event_id:wrong_type"
    EVENT_ID_TOO_LONG = "event_id:too_long"
    EVENT_ID_BAD_UNICODE = "event_id:bad_unicode"
    USER_ID_MISSING = "user_id:missing"
    USER_ID_WRONG_TYPE = "user_id:wrong_type"
    USER_ID_TOO_LONG = "user_id:too_long"
    USER_ID_BAD_UNICODE = "user_id:bad_unicode"
    ITEM_ID_MISSING = "item_id:missing"
    ITEM_ID_WRONG_TYPE = "item_id:wrong_type"
    ITEM_ID_TOO_LONG = "item_id:too_long"
    ITEM_ID_BAD_UNICODE = "item_id:bad_unicode"
    SESSION_ID_WRONG_TYPE = "session_id:wrong_type"
    SESSION_ID_TOO_LONG = "session_id:too_long"
    SESSION_ID_BAD_UNICODE = "session_id:bad_unicode"
    # the other fields
    TYPE_UNKNOWN = "type:unknown"
    TYPE_MISSING = "type:missing"
    QUANTITY_WRONG_TYPE = "quantity:wrong_type"
    QUANTITY_NOT_FINITE = "quantity:not_finite"
    QUANTITY_OUT_OF_RANGE = "quantity:out_of_range"
    PRICE_WRONG_TYPE = "price:wrong_type"
    PRICE_NOT_FINITE = "price:not_finite"
    PRICE_OUT_OF_RANGE = "price:out_of_range"
    TIMESTAMP_MISSING = "timestamp_ms:missing"
    TIMESTAMP_WRONG_TYPE = "timestamp_ms:wrong_type"
    TIMESTAMP_OUT_OF_RANGE = "timestamp_ms:out_of_range"
    TIMESTAMP_ISO_WRONG_TYPE = "timestamp:wrong_type"
    ITEM_TEXT_WRONG_TYPE = "item_text:wrong_type"
    ITEM_TEXT_MISSING = "item_text:missing"
    ITEM_TEXT_TOO_LONG = "item_text:too_long"
    ITEM_TEXT_BAD_UNICODE = "item_text:bad_unicode"
    # valid on the wire, but a sink failed on it alone while the rest of its batch was applied
    SINK_REJECTED = "sink:rejected"
    # anything else validation may raise (a rule added later): still one bounded label
    OTHER = "other:invalid"


_BY_VALUE = {c.value: c for c in RejectCode}


def code_of(err: InvalidEvent) -> RejectCode:
    """The fixed code of a validation failure (never a value chosen by the input)."""
    found = _BY_VALUE.get(f"{err.field}:{err.kind}")
    if found is not None:
        return found
    if err.kind == "unknown_field":
        return RejectCode.PAYLOAD_UNKNOWN_FIELD
    if err.field == "payload" and err.kind == "undecodable":
        return RejectCode.PAYLOAD_UNDECODABLE
    return RejectCode.OTHER
