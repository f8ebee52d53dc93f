"""Dead letters: invalid events kept with their reason and (a bounded part of) their bytes.

Kafka form (topic ``<topic>.dlq``): the value is JSON ::

    {"event_id": "...", "reason": "quantity: -3 is outside [0, 1e+06]", "code": "quantity:out_of_range",
     "source": "events/0/1234", "rejected_at_ms": 1700000000000,
     "payload_encoding": "base64" | "utf-8", "payload": "...",
     "payload_length": 1234, "payload_sha256": "…", "payload_truncated": false}

and the headers ``fulcrum-reason``, ``fulcrum-code`` and ``fulcrum-source`` carry the same facts,
so tools can filter without parsing. Binary payloads (protobuf) are base64; text ones stay text.
``code`` is one of :class:`~online.ingest.reasons.RejectCode`.

**Bounded.** A dead letter keeps the first ``MAX_DEAD_LETTER_PAYLOAD`` (64 KiB) of the record plus
its length and sha256 (enough to find the original on the source topic and to prove which record
it was): whatever was rejected, a dead letter is at most ~``MAX_DEAD_LETTER_BYTES``, well under
the ``max.message.bytes`` the DLQ topic is created with (``DLQ_TOPIC_CONFIG``, see
online/ingest/topics.py) -- a 900 KB garbage record cannot make its own dead letter unpublishable.

**Retries.** Publishing waits for the broker's acknowledgement, so the consumer commits the source
offsets only after the dead letters are safe. A retriable failure (broker down, leader moving,
timeout) raises ``SinkUnavailable``: the consumer backs off and retries the batch (a dead letter
may then be published twice: the DLQ is at-least-once). A non-retriable one (record too large,
topic invalid or not authorised) is final: the dead letter is sent once more without its payload
(length and sha256 only); if that is refused too it is dropped, logged at ERROR and counted in
``fulcrum_ingest_dlq_dropped_total{reason}``, and ingestion goes on instead of retrying forever.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from online.ingest import metrics
from online.ingest.result import Rejection
from online.ingest.sink import SinkUnavailable

log = logging.getLogger(__name__)

DLQ_SUFFIX = ".dlq"
#: bytes of the rejected record kept in its dead letter
MAX_DEAD_LETTER_PAYLOAD = 64 * 1024
#: upper bound of one dead letter (payload base64-encoded, reason/ids/headers bounded by Rejection)
MAX_DEAD_LETTER_BYTES = MAX_DEAD_LETTER_PAYLOAD * 4 // 3 + 16 * 1024


def dlq_topic_for(topic: str) -> str:
    return topic + DLQ_SUFFIX


def dead_letter_document(r: Rejection, now_ms: int, keep_payload: bool = True) -> dict[str, Any]:
    payload = bytes(r.payload)
    kept = payload[:MAX_DEAD_LETTER_PAYLOAD] if keep_payload else b""
    try:
        text = kept.decode("utf-8")
        binary = any(ch < " " and ch not in "\t\r\n" for ch in text)
    except UnicodeDecodeError:  # binary, or a multi-byte character cut at the limit
        binary = True
    return {
        "event_id": r.event_id,
        "reason": r.reason,
        "code": r.code,
        "source": r.source,
        "rejected_at_ms": now_ms,
        "payload_encoding": "base64" if binary else "utf-8",
        "payload": base64.b64encode(kept).decode("ascii") if binary else text,
        "payload_length": len(payload),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "payload_truncated": len(kept) < len(payload),
    }


def original_payload(document: dict[str, Any]) -> bytes:
    """The bytes a dead letter kept (all of the original unless ``payload_truncated``)."""
    if document["payload_encoding"] == "base64":
        return base64.b64decode(document["payload"])
    return str(document["payload"]).encode("utf-8")


def _retriable(err: Exception) -> bool:
    return bool(getattr(err, "retriable", False))


class KafkaDeadLetter:
    """Publishes rejections to a DLQ topic and waits for the broker's acknowledgement."""

    def __init__(self, producer: Any, topic: str, timeout_s: float = 30.0) -> None:
        self.producer = producer
        self.topic = topic
        self.timeout_s = timeout_s
        self.published = 0
        self.dropped = 0

    def _send(self, r: Rejection, now_ms: int, keep_payload: bool) -> Any:
        doc = dead_letter_document(r, now_ms, keep_payload)
        return self.producer.send(
            self.topic,
            key=r.event_id.encode("utf-8") if r.event_id else None,
            value=json.dumps(doc).encode("utf-8"),
            headers=[
                ("fulcrum-reason", r.reason.encode("utf-8", "backslashreplace")),
                ("fulcrum-code", r.code.encode("utf-8", "backslashreplace")),
                ("fulcrum-source", r.source.encode("utf-8", "backslashreplace")),
            ],
        )

    def _attempt(
        self, rejections: Sequence[Rejection], now_ms: int, keep_payload: bool
    ) -> list[tuple[Rejection, Exception]]:
        """Send all, wait for all; raise ``SinkUnavailable`` on a retriable failure, return the
        rejections refused for good with their errors."""
        from kafka.errors import KafkaError

        refused: list[tuple[Rejection, Exception]] = []
        futures = []
        try:
            for r in rejections:
                try:
                    futures.append((r, self._send(r, now_ms, keep_payload)))
                except KafkaError as e:  # e.g. MessageSizeTooLargeError, raised by send() itself
                    if _retriable(e):
                        raise
                    refused.append((r, e))
            self.producer.flush(timeout=self.timeout_s)
            for r, f in futures:
                try:
                    f.get(timeout=self.timeout_s)
                except KafkaError as e:
                    if _retriable(e):
                        raise
                    refused.append((r, e))
        except KafkaError as e:
            raise SinkUnavailable(f"dead-letter topic {self.topic}: {e}") from e
        return refused

    def publish(self, rejections: Sequence[Rejection]) -> None:
        if not rejections:
            return
        now_ms = int(time.time() * 1000)
        refused = self._attempt(rejections, now_ms, keep_payload=True)
        dropped = 0
        if refused:
            log.warning(
                "dead-letter topic %s refused %d dead letters (%s); sending them without payload",
                self.topic,
                len(refused),
                type(refused[0][1]).__name__,
            )
            again = self._attempt([r for r, _ in refused], now_ms, keep_payload=False)
            for r, err in again:
                doc = dead_letter_document(r, now_ms, keep_payload=False)
                log.error(
                    "dead letter dropped, the topic %s refused it (%s): event_id=%r code=%s source=%s "
                    "length=%d sha256=%s",
                    self.topic,
                    err,
                    r.event_id,
                    r.code,
                    r.source,
                    doc["payload_length"],
                    doc["payload_sha256"],
                )
                metrics.DLQ_DROPPED.labels(r.code).inc()
            dropped = len(again)
            self.dropped += dropped
        self.published += len(rejections) - dropped


class ListDeadLetter:
    """Keeps dead letters in a list (tests, and the gRPC door without Kafka)."""

    def __init__(self) -> None:
        self.rejections: list[Rejection] = []

    def publish(self, rejections: Sequence[Rejection]) -> None:
        self.rejections.extend(rejections)
