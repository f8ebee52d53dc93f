"""fulcrum.core.events: the rules every door applies, with hand-picked edge cases."""

from __future__ import annotations

import pytest

from fulcrum.core.events import (
    MIN_TIMESTAMP_MS,
    WIRE_EVENT_TYPES,
    Event,
    InvalidEvent,
    event_from_json,
    event_from_proto,
    event_to_json,
    validate_event,
)
from fulcrum.core.schema import MAX_ID_LENGTH, MAX_ITEM_TEXT_LENGTH, MAX_QUANTITY, EventType
from fulcrum.v1 import recommender_pb2 as pb

NOW = 1_700_000_000_000  # 2023-11-14T22:13:20Z
DAY = 86_400_000
TS = 1_320_969_600_000  # 2011-11-11T00:00:00Z


def good(**over):
    fields = dict(
        event_id="e-1",
        event_type="PURCHASE",
        user_id="u-1",
        item_id="sku-1",
        quantity=2,
        price=3.5,
        timestamp_ms=TS,
        session_id="s-1",
        now_ms=NOW,
    )
    fields.update(over)
    return validate_event(**fields)


def reject(**over) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as info:
        good(**over)
    return info.value


def test_wire_numbers_match_the_proto_enum() -> None:
    for number, etype in WIRE_EVENT_TYPES.items():
        assert pb.EventType.Name(number) == etype.value
    assert len(WIRE_EVENT_TYPES) == len(pb.EventType.keys()) - 1  # all but UNSPECIFIED


def test_a_valid_event_keeps_every_field() -> None:
    e = good()
    assert e == Event("e-1", EventType.PURCHASE, "u-1", "sku-1", 2.0, 3.5, TS, "s-1", "")
    assert isinstance(e.quantity, float)
    with pytest.raises(AttributeError):  # frozen
        e.user_id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("over", "field", "kind"),
    [
        ({"event_id": ""}, "event_id", "missing"),
        ({"event_id": "x" * (MAX_ID_LENGTH + 1)}, "event_id", "too_long"),
        ({"event_id": 12}, "event_id", "wrong_type"),
        ({"user_id": ""}, "user_id", "missing"),
        ({"item_id": ""}, "item_id", "missing"),
        ({"item_id": "i" * (MAX_ID_LENGTH + 1)}, "item_id", "too_long"),
        ({"session_id": "s" * (MAX_ID_LENGTH + 1)}, "session_id", "too_long"),
        ({"event_type": "TELEPORT"}, "type", "unknown"),
        ({"event_type": 0}, "type", "unknown"),  # protobuf EVENT_TYPE_UNSPECIFIED
        ({"event_type": 99}, "type", "unknown"),
        ({"event_type": None}, "type", "missing"),
        ({"quantity": -1}, "quantity", "out_of_range"),
        ({"quantity": MAX_QUANTITY + 1}, "quantity", "out_of_range"),
        ({"quantity": float("nan")}, "quantity", "not_finite"),
        ({"quantity": "2"}, "quantity", "wrong_type"),
        ({"price": -0.01}, "price", "out_of_range"),
        ({"timestamp_ms": MIN_TIMESTAMP_MS - 1}, "timestamp_ms", "out_of_range"),
        ({"timestamp_ms": 1_320_969_600}, "timestamp_ms", "out_of_range"),  # seconds, not ms: 1970
        ({"timestamp_ms": NOW + DAY + 1}, "timestamp_ms", "out_of_range"),
        ({"timestamp_ms": 1.5}, "timestamp_ms", "wrong_type"),
    ],
)
def test_each_rule_names_its_field(over, field, kind) -> None:
    err = reject(**over)
    assert (err.field, err.kind) == (field, kind)
    assert err.code == f"{field}:{kind}"
    assert str(err).startswith(f"{field}: ")


def test_boundaries_are_inclusive() -> None:
    # exactly the limits are fine: quantity 0 and MAX_QUANTITY, 2000-01-01, now + one day,
    # ids of exactly MAX_ID_LENGTH characters
    assert good(quantity=0).quantity == 0.0
    assert good(quantity=MAX_QUANTITY).quantity == MAX_QUANTITY
    assert good(timestamp_ms=MIN_TIMESTAMP_MS).timestamp_ms == MIN_TIMESTAMP_MS
    assert good(timestamp_ms=NOW + DAY).timestamp_ms == NOW + DAY
    assert len(good(event_id="x" * MAX_ID_LENGTH).event_id) == MAX_ID_LENGTH


def test_the_event_id_travels_with_the_error() -> None:
    assert reject(quantity=-3).event_id == "e-1"
    assert reject(event_id="").event_id == ""


def test_item_upsert_needs_text_but_no_user() -> None:
    e = good(event_type="ITEM_UPSERT", user_id="", item_text="Red mug, 300 ml")
    assert e.is_item_upsert and e.user_id == "" and e.item_text == "Red mug, 300 ml"
    assert reject(event_type="ITEM_UPSERT", user_id="", item_text="  ").field == "item_text"
    assert reject(event_type="ITEM_UPSERT", item_text="x" * (MAX_ITEM_TEXT_LENGTH + 1)).kind == "too_long"
    assert reject(event_type="ITEM_UPSERT", item_id="", item_text="mug").field == "item_id"


def test_type_names_are_case_insensitive_and_numbers_follow_the_wire() -> None:
    assert good(event_type="purchase").event_type is EventType.PURCHASE
    assert good(event_type=pb.CANCEL).event_type is EventType.CANCEL
    assert good(event_type=EventType.DISLIKE).event_type is EventType.DISLIKE


def test_from_proto() -> None:
    msg = pb.Event(event_id="e-9", type=pb.ADD_TO_CART, user_id="u", item_id="i", quantity=1, timestamp_ms=TS)
    e = event_from_proto(msg, now_ms=NOW)
    assert (e.event_id, e.event_type, e.quantity, e.price, e.session_id) == (
        "e-9",
        EventType.ADD_TO_CART,
        1.0,
        0.0,
        "",
    )
    with pytest.raises(InvalidEvent) as info:
        event_from_proto(pb.Event(event_id="e-0", user_id="u", item_id="i", timestamp_ms=TS), now_ms=NOW)
    assert info.value.field == "type"  # unset type is EVENT_TYPE_UNSPECIFIED


def test_from_json_round_trip_and_iso_timestamps() -> None:
    e = good()
    assert event_from_json(event_to_json(e), now_ms=NOW) == e
    # 2011-11-11T00:00:00Z as ISO-8601, with Z, with an offset, and naive (= UTC)
    for text in ("2011-11-11T00:00:00Z", "2011-11-11T01:00:00+01:00", "2011-11-11 00:00:00"):
        doc = f'{{"event_id":"j","type":"VIEW","user_id":"u","item_id":"i","timestamp":"{text}"}}'
        assert event_from_json(doc.encode(), now_ms=NOW).timestamp_ms == TS


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b"{not json", "payload"),
        (b"[1, 2]", "payload"),
        (b"\xff\xfe", "payload"),
        (b'{"event_id":"j","type":"VIEW","user_id":"u","item_id":"i"}', "timestamp_ms"),
        (
            b'{"event_id":"j","type":"VIEW","user_id":"u","item_id":"i","timestamp_ms":1,"colour":"red"}',
            "colour",
        ),
        (b'{"event_id":"j","type":"VIEW","user_id":"u","item_id":"i","timestamp":"yesterday"}', "timestamp"),
    ],
)
def test_from_json_rejections(payload, field) -> None:
    with pytest.raises(InvalidEvent) as info:
        event_from_json(payload, now_ms=NOW)
    assert info.value.field == field
