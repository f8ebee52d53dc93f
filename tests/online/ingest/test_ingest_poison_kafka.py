"""Poison records on the REAL broker: deep nesting, a lone surrogate, a 900 KB garbage EventBatch
and wrong types, then valid events. The consumer stays alive, applies every valid event once,
dead-letters every poison record with its fixed code (bounded), and commits to the end."""

from __future__ import annotations

import json
import os
import time

import pytest

from online.ingest.decode import ENCODING_BATCH, ENCODING_HEADER
from online.ingest.dedupe import MemoryDedupe
from online.ingest.dlq import MAX_DEAD_LETTER_BYTES
from online.ingest.memory_sink import MemorySink
from online.ingest.reasons import RejectCode
from online.ingest.topics import DLQ_TOPIC_CONFIG, ensure_dlq_topic, ensure_topic, topic_config
from tests.fixtures.services import unique_topic, wait_until
from tests.online.ingest.test_ingest_kafka import (
    committed_equals_end,
    make_consumer,
    make_producer,
    read_all,
    running,
)

pytestmark = pytest.mark.kafka


def test_poison_records_from_any_producer_end_in_the_dlq_and_the_stream_goes_on(kafka_bootstrap: str) -> None:
    topic, group = unique_topic("poison"), unique_topic("g")
    ensure_topic(kafka_bootstrap, topic)
    assert ensure_dlq_topic(kafka_bootstrap, f"{topic}.dlq")
    now = int(time.time() * 1000)
    poison = {  # payload -> (headers, code of its dead letter)
        b'{"event_id":' + b"[" * 50_000 + b"]" * 50_000 + b"}": ([], RejectCode.PAYLOAD_TOO_DEEP),
        (b'{"event_id":"e\\ud800","type":"PURCHASE","user_id":"x","item_id":"i","timestamp_ms":%d}' % now): (
            [],
            RejectCode.EVENT_ID_BAD_UNICODE,
        ),
        os.urandom(900_000): ([(ENCODING_HEADER, ENCODING_BATCH)], RejectCode.PAYLOAD_UNDECODABLE),
        json.dumps(
            {"event_id": "w", "type": "VIEW", "user_id": 7, "item_id": "i", "timestamp_ms": now}
        ).encode(): ([], RejectCode.USER_ID_WRONG_TYPE),
    }
    producer = make_producer(kafka_bootstrap)
    futures = [producer.send(topic, value=p, headers=h) for p, (h, _) in poison.items()]
    valid = [
        json.dumps(
            {
                "event_id": f"v{i}",
                "type": "PURCHASE",
                "user_id": "u",
                "item_id": f"i{i}",
                "timestamp_ms": now - i,
            }
        ).encode()
        for i in range(10)
    ]
    futures += [producer.send(topic, value=v) for v in valid]
    producer.flush()
    assert not [f for f in futures if f.failed()]

    sink = MemorySink()
    consumer = make_consumer(kafka_bootstrap, topic, group, sink, MemoryDedupe(), producer)
    with running(consumer) as thread:
        wait_until(lambda: sink.applied_count >= 10 and consumer.rejected >= 4, 90, what="all consumed")
        wait_until(
            lambda: committed_equals_end(kafka_bootstrap, topic, group), 30, interval=0.2, what="committed"
        )
        assert thread.is_alive()
    assert sink.times_applied == {f"v{i}": 1 for i in range(10)}
    assert consumer.retries == 0

    letters = read_all(kafka_bootstrap, f"{topic}.dlq", 4)
    assert len(letters) == 4
    by_sha = {}
    for rec in letters:
        assert len(rec.value) <= MAX_DEAD_LETTER_BYTES
        doc = json.loads(rec.value)
        assert dict(rec.headers)["fulcrum-code"].decode() == doc["code"]
        by_sha[doc["payload_sha256"]] = (doc["code"], doc["payload_length"])
    import hashlib

    assert by_sha == {hashlib.sha256(p).hexdigest(): (c.value, len(p)) for p, (_, c) in poison.items()}

    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        limit = topic_config(admin, f"{topic}.dlq", "max.message.bytes")
    finally:
        admin.close()
    assert limit == DLQ_TOPIC_CONFIG["max.message.bytes"]
    producer.close()
