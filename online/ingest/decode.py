"""Bytes on the wire -> validated events, or rejections that keep the original bytes.

Wire forms of one record (Kafka value, or a gRPC message already parsed):

- ``fulcrum.v1.Event`` protobuf (the default),
- ``fulcrum.v1.EventBatch`` protobuf: many events in one record, marked by the record header
  ``fulcrum-encoding: event-batch`` (what `fulcrum replay` sends: Kafka's per-record cost is paid
  once per batch),
- JSON as documented in :mod:`fulcrum.core.events` (header ``fulcrum-encoding: json``, or any
  value whose first non-blank byte is ``{`` -- never the first byte of a valid Event protobuf).

No record can make decoding raise: whatever the bytes, each record becomes events and/or
:class:`~online.ingest.result.Rejection` s with a fixed :class:`~online.ingest.reasons.RejectCode`.
A record over its size limit (``MAX_EVENT_BYTES`` for one Event or JSON object,
``MAX_BATCH_BYTES`` for an EventBatch) is rejected unparsed; JSON nested too deep, text with lone
surrogates and wrong types are rejections like any broken rule; and should the decoder itself
fail (a bug), the record is rejected as ``payload:decoder_error`` with the traceback in the log
instead of stopping the consumer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from google.protobuf.message import DecodeError

from fulcrum.core.events import Event, InvalidEvent, event_from_json, event_from_proto
from fulcrum.v1 import recommender_pb2 as pb
from online.ingest.reasons import RejectCode, code_of
from online.ingest.result import Rejection

log = logging.getLogger(__name__)

ENCODING_HEADER = "fulcrum-encoding"
ENCODING_EVENT = b"event"
ENCODING_BATCH = b"event-batch"
ENCODING_JSON = b"json"
_ENCODINGS = (ENCODING_EVENT, ENCODING_BATCH, ENCODING_JSON)
#: one Event (protobuf or JSON): the largest valid one is a few KiB (ids <= 128 characters, item
#: text <= 2,000), so anything over this is not an event and is rejected without parsing
MAX_EVENT_BYTES = 256 * 1024
#: one EventBatch record (`fulcrum replay` sends ~50 KiB per 500 events)
MAX_BATCH_BYTES = 16 * 1024 * 1024


def encoding_from_headers(headers: Iterable[tuple[str, bytes]] | None) -> bytes | None:
    for key, value in headers or ():
        if key == ENCODING_HEADER:
            return bytes(value) if value is not None else None
    return None


def _reject(err: InvalidEvent, payload: bytes, source: str, event_id: str = "") -> Rejection:
    return Rejection(err.event_id or event_id, str(err), payload, code_of(err), source)


def _one_proto(
    msg: pb.Event,
    payload: bytes | None,
    now_ms: int,
    source: str,
    events: list[Event],
    rejected: list[Rejection],
) -> None:
    try:
        events.append(event_from_proto(msg, now_ms))
    except InvalidEvent as err:
        rejected.append(
            _reject(
                err, payload if payload is not None else msg.SerializeToString(), source, msg.event_id[:256]
            )
        )


def decode_payload(
    payload: bytes,
    encoding: bytes | None,
    now_ms: int,
    source: str,
    events: list[Event],
    rejected: list[Rejection],
) -> int:
    """Decode one record into ``events`` / ``rejected``; return how many events it carried.
    Never raises for any ``payload`` / ``encoding``."""
    n_events, n_rejected = len(events), len(rejected)
    try:
        return _decode(payload, encoding, now_ms, source, events, rejected)
    except Exception as e:  # noqa: BLE001 - a decoder bug must cost one record, not the consumer
        log.exception("decoding the record at %r failed; dead-lettering it", source)
        del events[n_events:], rejected[n_rejected:]
        rejected.append(
            Rejection(
                "",
                f"payload: the decoder failed ({type(e).__name__})",
                bytes(payload),
                RejectCode.PAYLOAD_DECODER_ERROR,
                source,
            )
        )
        return 1


def _too_large(payload: bytes, limit: int, what: str, source: str) -> Rejection:
    return Rejection(
        "",
        f"payload: {len(payload):,} bytes, over the {limit:,}-byte limit of {what}",
        payload,
        RejectCode.PAYLOAD_TOO_LARGE,
        source,
    )


def _undecodable(payload: bytes, what: str, source: str) -> Rejection:
    return Rejection("", f"payload: not a {what} protobuf", payload, RejectCode.PAYLOAD_UNDECODABLE, source)


def _decode(
    payload: bytes,
    encoding: bytes | None,
    now_ms: int,
    source: str,
    events: list[Event],
    rejected: list[Rejection],
) -> int:
    if encoding is None:
        head = payload[: MAX_EVENT_BYTES + 1].lstrip()[:1]
        encoding = ENCODING_JSON if head == b"{" else ENCODING_EVENT
    if encoding in (ENCODING_EVENT, ENCODING_JSON) and len(payload) > MAX_EVENT_BYTES:
        rejected.append(_too_large(payload, MAX_EVENT_BYTES, "one event", source))
        return 1
    if encoding == ENCODING_EVENT:
        try:
            msg = pb.Event.FromString(payload)
        except DecodeError:
            rejected.append(_undecodable(payload, "fulcrum.v1.Event", source))
            return 1
        _one_proto(msg, payload, now_ms, source, events, rejected)
        return 1
    if encoding == ENCODING_BATCH:
        if len(payload) > MAX_BATCH_BYTES:
            rejected.append(_too_large(payload, MAX_BATCH_BYTES, "an event batch", source))
            return 1
        try:
            batch = pb.EventBatch.FromString(payload)
        except DecodeError:
            rejected.append(_undecodable(payload, "fulcrum.v1.EventBatch", source))
            return 1
        for msg in batch.events:
            _one_proto(msg, None, now_ms, source, events, rejected)
        return len(batch.events)
    if encoding == ENCODING_JSON:
        try:
            events.append(event_from_json(payload, now_ms))
        except InvalidEvent as err:
            rejected.append(_reject(err, payload, source))
        return 1
    shown = encoding[:40].decode("utf-8", "replace")
    rejected.append(
        Rejection(
            "", f"{ENCODING_HEADER}: unknown encoding {shown!r}", payload, RejectCode.ENCODING_UNKNOWN, source
        )
    )
    return 1
