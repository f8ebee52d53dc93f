"""Dead letters: invalid events kept with their reason and original bytes.

Kafka form (topic ``<topic>.dlq``): the value is JSON ::

    {"event_id": "...", "reason": "quantity: -3 is outside [0, 1e+06]", "code": "quantity:out_of_range",
     "source": "events/0/1234", "rejected_at_ms": 1700000000000,
     "payload_encoding": "base64" | "utf-8", "payload": "..."}

and the headers ``fulcrum-reason``, ``fulcrum-code`` and ``fulcrum-source`` carry the same facts,
so tools can filter without parsing. Binary payloads (protobuf) are base64; text ones stay text.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from online.ingest.result import Rejection
from online.ingest.sink import SinkUnavailable

log = logging.getLogger(__name__)

DLQ_SUFFIX = ".dlq"


def dlq_topic_for(topic: str) -> str:
    return topic + DLQ_SUFFIX


def dead_letter_document(r: Rejection, now_ms: int) -> dict[str, Any]:
    try:
        text = r.payload.decode("utf-8")
        binary = any(ch < " " and ch not in "\t\r\n" for ch in text)
    except UnicodeDecodeError:
        binary = True
    return {
        "event_id": r.event_id,
        "reason": r.reason,
        "code": r.code,
        "source": r.source,
        "rejected_at_ms": now_ms,
        "payload_encoding": "base64" if binary else "utf-8",
        "payload": base64.b64encode(r.payload).decode("ascii") if binary else text,
    }


def original_payload(document: dict[str, Any]) -> bytes:
    """The original bytes of a dead letter (inverse of the encoding above)."""
    if document["payload_encoding"] == "base64":
        return base64.b64decode(document["payload"])
    return str(document["payload"]).encode("utf-8")


class KafkaDeadLetter:
    """Publishes rejections to a DLQ topic and waits for the broker's acknowledgement, so the
    consumer commits the source offsets only after the dead letters are safe."""

    def __init__(self, producer: Any, topic: str, timeout_s: float = 30.0) -> None:
        self.producer = producer
        self.topic = topic
        self.timeout_s = timeout_s
        self.published = 0

    def publish(self, rejections: Sequence[Rejection]) -> None:
        from kafka.errors import KafkaError

        now_ms = int(time.time() * 1000)
        try:
            futures = [
                self.producer.send(
                    self.topic,
                    key=r.event_id.encode("utf-8") if r.event_id else None,
                    value=json.dumps(dead_letter_document(r, now_ms)).encode("utf-8"),
                    headers=[
                        ("fulcrum-reason", r.reason.encode("utf-8")),
                        ("fulcrum-code", r.code.encode()),
                        ("fulcrum-source", r.source.encode("utf-8")),
                    ],
                )
                for r in rejections
            ]
            self.producer.flush(timeout=self.timeout_s)
            for f in futures:
                f.get(timeout=self.timeout_s)
        except KafkaError as e:
            raise SinkUnavailable(f"dead-letter topic {self.topic}: {e}") from e
        self.published += len(rejections)


class ListDeadLetter:
    """Keeps dead letters in a list (tests, and the gRPC door without Kafka)."""

    def __init__(self) -> None:
        self.rejections: list[Rejection] = []

    def publish(self, rejections: Sequence[Rejection]) -> None:
        self.rejections.extend(rejections)
