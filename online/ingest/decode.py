"""Bytes on the wire -> validated events, or rejections that keep the original bytes.

Wire forms of one record (Kafka value, or a gRPC message already parsed):

- ``fulcrum.v1.Event`` protobuf (the default),
- ``fulcrum.v1.EventBatch`` protobuf: many events in one record, marked by the record header
  ``fulcrum-encoding: event-batch`` (what `fulcrum replay` sends: Kafka's per-record cost is paid
  once per batch),
- JSON as documented in :mod:`fulcrum.core.events` (header ``fulcrum-encoding: json``, or any
  value whose first non-blank byte is ``{`` -- never the first byte of a valid Event protobuf).
"""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.message import DecodeError

from fulcrum.core.events import Event, InvalidEvent, event_from_json, event_from_proto
from fulcrum.v1 import recommender_pb2 as pb
from online.ingest.result import Rejection

ENCODING_HEADER = "fulcrum-encoding"
ENCODING_EVENT = b"event"
ENCODING_BATCH = b"event-batch"
ENCODING_JSON = b"json"
_ENCODINGS = (ENCODING_EVENT, ENCODING_BATCH, ENCODING_JSON)


def encoding_from_headers(headers: Iterable[tuple[str, bytes]] | None) -> bytes | None:
    for key, value in headers or ():
        if key == ENCODING_HEADER:
            return bytes(value) if value is not None else None
    return None


def _reject(err: InvalidEvent, payload: bytes, source: str, event_id: str = "") -> Rejection:
    return Rejection(err.event_id or event_id, str(err), payload, err.code, source)


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
    """Decode one record into ``events`` / ``rejected``; return how many events it carried."""
    if encoding is None:
        encoding = ENCODING_JSON if payload[:1] == b"{" or payload.lstrip()[:1] == b"{" else ENCODING_EVENT
    if encoding == ENCODING_EVENT:
        try:
            msg = pb.Event.FromString(payload)
        except DecodeError:
            rejected.append(
                Rejection(
                    "", "payload: not a fulcrum.v1.Event protobuf", payload, "payload:undecodable", source
                )
            )
            return 1
        _one_proto(msg, payload, now_ms, source, events, rejected)
        return 1
    if encoding == ENCODING_BATCH:
        try:
            batch = pb.EventBatch.FromString(payload)
        except DecodeError:
            rejected.append(
                Rejection(
                    "",
                    "payload: not a fulcrum.v1.EventBatch protobuf",
                    payload,
                    "payload:undecodable",
                    source,
                )
            )
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
        Rejection("", f"{ENCODING_HEADER}: unknown encoding {shown!r}", payload, "encoding:unknown", source)
    )
    return 1
