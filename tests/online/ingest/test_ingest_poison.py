"""Poison records: every bad record becomes a dead letter with a fixed code, never an exception;
dead letters are bounded; a sink that fails on one event is bisected; DLQ refusals are final."""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest

from fulcrum.core.events import Event, InvalidEvent, event_from_json
from fulcrum.core.schema import EventType
from fulcrum.v1 import recommender_pb2 as pb
from online.ingest.decode import ENCODING_BATCH, MAX_EVENT_BYTES, decode_payload
from online.ingest.dedupe import MemoryDedupe
from online.ingest.dlq import (
    MAX_DEAD_LETTER_BYTES,
    MAX_DEAD_LETTER_PAYLOAD,
    KafkaDeadLetter,
    dead_letter_document,
    original_payload,
)
from online.ingest.isolate import RetryPolicy
from online.ingest.memory_sink import MemorySink
from online.ingest.pipeline import IngestPipeline, RawRecord
from online.ingest.reasons import RejectCode
from online.ingest.result import Rejection
from online.ingest.sink import FanoutSink, SinkUnavailable

NOW = int(time.time() * 1000)


def js(**fields) -> bytes:
    base = dict(event_id="e1", type="PURCHASE", user_id="u", item_id="i", timestamp_ms=NOW - 1000)
    base.update(fields)
    return json.dumps(base).encode()


def decode(payload: bytes, encoding: bytes | None = None):
    events: list[Event] = []
    rejected: list[Rejection] = []
    decode_payload(payload, encoding, NOW, "t/0/7", events, rejected)
    return events, rejected


@pytest.mark.parametrize(
    "payload, encoding, code",
    [
        (b'{"event_id":' + b"[" * 50_000 + b"]" * 50_000 + b"}", None, RejectCode.PAYLOAD_TOO_DEEP),
        (
            b'{"event_id":"e\\ud800","type":"VIEW","user_id":"u","item_id":"i","timestamp_ms":%d}' % NOW,
            None,
            RejectCode.EVENT_ID_BAD_UNICODE,
        ),
        (js(item_id="i\udfff"), None, RejectCode.ITEM_ID_BAD_UNICODE),
        (js(type="ITEM_UPSERT", user_id="", item_text="ok \ud83d"), None, RejectCode.ITEM_TEXT_BAD_UNICODE),
        (os.urandom(900_000), ENCODING_BATCH, RejectCode.PAYLOAD_UNDECODABLE),
        (b"{" + b" " * MAX_EVENT_BYTES + b"}", None, RejectCode.PAYLOAD_TOO_LARGE),
        (js(quantity="3"), None, RejectCode.QUANTITY_WRONG_TYPE),
        (js(timestamp_ms=[1]), None, RejectCode.TIMESTAMP_WRONG_TYPE),
        (js(user_id={"a": 1}), None, RejectCode.USER_ID_WRONG_TYPE),
        (b"[1, 2]", b"json", RejectCode.PAYLOAD_NOT_OBJECT),
        (b'{"event_id": "e", "\\ud800-any-key-the-sender-likes": 1}', None, RejectCode.PAYLOAD_UNKNOWN_FIELD),
        (b"\xff\xfe{}", b"json", RejectCode.PAYLOAD_UNDECODABLE),
        (b"x", b"avro", RejectCode.ENCODING_UNKNOWN),
    ],
    ids=[
        "deep-nesting",
        "lone-surrogate-id",
        "surrogate-item",
        "surrogate-text",
        "garbage-batch",
        "huge-json",
        "quantity-str",
        "timestamp-list",
        "user-dict",
        "json-array",
        "unknown-key",
        "bad-utf8",
        "unknown-encoding",
    ],
)
def test_each_poison_record_is_one_rejection_with_a_fixed_code(payload, encoding, code) -> None:
    events, rejected = decode(payload, encoding)
    assert events == [] and len(rejected) == 1
    r = rejected[0]
    assert r.code == code and r.code in set(RejectCode)
    assert r.source == "t/0/7" and r.payload == payload
    # everything a rejection carries is encodable (Kafka key/headers, protobuf replies)
    for text in (r.event_id, r.reason, r.source, r.code):
        text.encode("utf-8")


def test_a_rejection_made_from_a_lone_surrogate_id_is_encodable() -> None:
    r = Rejection("e\ud800" * 300, "event_id: bad \udc00", b"x", RejectCode.OTHER)
    # cut to 256 characters (+ "...") and the surrogates escaped
    assert r.event_id.startswith("e\\ud800") and len(r.event_id) <= 256 * 6 + 3
    assert "\\udc00" in r.reason
    r.event_id.encode("utf-8")


def test_validation_names_the_lone_surrogate_and_keeps_valid_unicode() -> None:
    with pytest.raises(InvalidEvent) as err:
        event_from_json(js(user_id="ok\ud800"), NOW)
    assert (err.value.field, err.value.kind) == ("user_id", "bad_unicode")
    ok = event_from_json(js(user_id="Zoë 😀"), NOW)
    assert ok.user_id == "Zoë 😀"


def test_dead_letter_of_a_900kb_record_is_bounded_and_identifies_the_original() -> None:
    garbage = os.urandom(900_000)
    doc = dead_letter_document(
        Rejection("", "payload: not a protobuf", garbage, RejectCode.PAYLOAD_UNDECODABLE), 1
    )
    size = len(json.dumps(doc).encode())
    assert size <= MAX_DEAD_LETTER_BYTES < 1024 * 1024
    assert doc["payload_length"] == 900_000 and doc["payload_truncated"] is True
    assert doc["payload_sha256"] == hashlib.sha256(garbage).hexdigest()
    assert original_payload(doc) == garbage[:MAX_DEAD_LETTER_PAYLOAD]
    small = dead_letter_document(Rejection("e", "r", b'{"a":1}', RejectCode.OTHER), 1)
    assert small["payload_truncated"] is False and original_payload(small) == b'{"a":1}'


class _Future:
    def __init__(self, error=None):
        self.error = error

    def get(self, timeout=None):
        if self.error is not None:
            raise self.error


class _Producer:
    """A KafkaProducer double whose send() outcome is scripted per call."""

    def __init__(self, outcomes):
        self.outcomes = list(outcomes)
        self.sent: list[dict] = []

    def send(self, topic, key=None, value=None, headers=None):
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome == "raise-too-large":
            from kafka.errors import MessageSizeTooLargeError

            raise MessageSizeTooLargeError("too large")
        self.sent.append(json.loads(value))
        return _Future(outcome)

    def flush(self, timeout=None):
        pass


def test_a_refused_dead_letter_is_sent_without_payload_then_dropped_never_retried_forever() -> None:
    from kafka.errors import MessageSizeTooLargeError

    r = Rejection("e1", "payload: bad", b"x" * 1000, RejectCode.PAYLOAD_UNDECODABLE)
    # refused with its payload, accepted without: published, payload-less
    producer = _Producer([MessageSizeTooLargeError("big"), None])
    dlq = KafkaDeadLetter(producer, "events.dlq", timeout_s=1)
    dlq.publish([r])
    assert dlq.published == 1 and dlq.dropped == 0
    assert producer.sent[-1]["payload"] == "" and producer.sent[-1]["payload_length"] == 1000
    # refused both times (send() itself raising): dropped and counted, no exception, no loop
    producer = _Producer(["raise-too-large", "raise-too-large"])
    dlq = KafkaDeadLetter(producer, "events.dlq", timeout_s=1)
    dlq.publish([r])
    assert (dlq.published, dlq.dropped) == (0, 1)


def test_a_retriable_dlq_failure_is_sink_unavailable() -> None:
    from kafka.errors import RequestTimedOutError

    dlq = KafkaDeadLetter(_Producer([RequestTimedOutError("slow")]), "events.dlq", timeout_s=1)
    with pytest.raises(SinkUnavailable):
        dlq.publish([Rejection("e", "r", b"", RejectCode.OTHER)])


class PoisonSink(MemorySink):
    """Applies any batch without the poison ids, raises on any batch holding one."""

    def __init__(self, poison: set[str], error: type[Exception] = ValueError):
        super().__init__()
        self.poison, self.error = poison, error

    def apply(self, events):
        if any(e.event_id in self.poison for e in events):
            self.apply_calls += 1
            raise self.error(f"store refused {sorted(self.poison)}")
        super().apply(events)


class ListDLQ:
    def __init__(self):
        self.rejections: list[Rejection] = []

    def publish(self, rejections):
        self.rejections.extend(rejections)


def purchases(n: int) -> list[bytes]:
    return [js(event_id=f"e{i}", item_id=f"i{i}") for i in range(n)]


def test_an_unexpected_sink_error_is_bisected_to_the_poison_event_and_the_rest_applied() -> None:
    sink, dlq = PoisonSink({"e13", "e40"}), ListDLQ()
    pipeline = IngestPipeline(sink, MemoryDedupe(), dlq=dlq, door="test")
    result = pipeline.process(purchases(64))
    assert result.accepted == 62
    assert sorted(sink.times_applied) == sorted(f"e{i}" for i in range(64) if i not in (13, 40))
    assert set(sink.times_applied.values()) == {1}  # the halves that passed were applied once
    assert sorted((r.event_id, r.code) for r in dlq.rejections) == [
        ("e13", RejectCode.SINK_REJECTED),
        ("e40", RejectCode.SINK_REJECTED),
    ]
    assert json.loads(dlq.rejections[0].payload)["event_id"] in ("e13", "e40")
    # bisection cost: about 2 * log2(64) calls per poison event, not one call per event
    assert sink.apply_calls <= 1 + 2 * 2 * 6


def test_a_sink_unavailable_that_keeps_coming_back_is_isolated_after_the_retry_bounds() -> None:
    sink, dlq = PoisonSink({"e3"}, SinkUnavailable), ListDLQ()
    pipeline = IngestPipeline(
        sink, MemoryDedupe(), dlq=dlq, door="test", retry=RetryPolicy(max_attempts=3, max_seconds=0)
    )
    for _ in range(2):  # within the bounds: retried as an outage
        with pytest.raises(SinkUnavailable):
            pipeline.process(purchases(8))
    result = pipeline.process(purchases(8))  # third failure of the same batch: bisected
    assert result.accepted == 7 and [r.event_id for r in dlq.rejections] == ["e3"]
    assert sorted(sink.times_applied) == [f"e{i}" for i in range(8) if i != 3]


def test_an_outage_is_never_mistaken_for_poison() -> None:
    sink, dlq = MemorySink(), ListDLQ()
    sink.set_down(True)
    pipeline = IngestPipeline(
        sink, MemoryDedupe(), dlq=dlq, door="test", retry=RetryPolicy(max_attempts=1, max_seconds=0)
    )
    for _ in range(3):
        with pytest.raises(SinkUnavailable):
            pipeline.process(purchases(32))
    assert dlq.rejections == [] and sink.failed_calls <= 3 * 3  # whole batch + two halves per retry
    sink.set_down(False)
    assert pipeline.process(purchases(32)).accepted == 32


def test_fanout_isolates_sink_by_sink_without_reapplying_the_sinks_that_took_the_batch() -> None:
    first, second, dlq = MemorySink(), PoisonSink({"e5"}), ListDLQ()
    pipeline = IngestPipeline(FanoutSink([first, second]), MemoryDedupe(), dlq=dlq, door="test")
    result = pipeline.process(purchases(16))
    assert result.accepted == 15 and [r.event_id for r in dlq.rejections] == ["e5"]
    assert first.apply_calls == 1 and set(first.times_applied.values()) == {1}
    assert len(second.times_applied) == 15


def test_the_gathered_codes_are_the_only_metric_labels() -> None:
    from prometheus_client import REGISTRY

    pipeline = IngestPipeline(MemorySink(), MemoryDedupe(), dlq=ListDLQ(), door="poison-labels")
    keys = [f"k{i}\ud800" for i in range(20)]
    pipeline.process([RawRecord(json.dumps({"event_id": "e", k: 1}).encode()) for k in keys])
    labels = {
        s.labels["reason"]
        for m in REGISTRY.collect()
        if m.name == "fulcrum_ingest_rejected"
        for s in m.samples
        if s.labels.get("door") == "poison-labels"
    }
    assert labels == {RejectCode.PAYLOAD_UNKNOWN_FIELD.value}


def test_event_batch_with_a_bad_event_inside_keeps_the_good_ones() -> None:
    good = pb.Event(event_id="g", type=pb.VIEW, user_id="u", item_id="i", timestamp_ms=NOW - 5)
    bad = pb.Event(event_id="b", type=pb.VIEW, user_id="u", item_id="i", timestamp_ms=5)
    events, rejected = decode(pb.EventBatch(events=[good, bad]).SerializeToString(), ENCODING_BATCH)
    assert [e.event_id for e in events] == ["g"] and events[0].event_type is EventType.VIEW
    assert [(r.event_id, r.code) for r in rejected] == [("b", RejectCode.TIMESTAMP_OUT_OF_RANGE)]
