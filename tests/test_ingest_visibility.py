"""Kafka -> ingest pipeline -> features -> Recommend: a purchase produced to the REAL broker stops
being recommended to that user (the anti-recommendation goes live), measured with the same code as
`fulcrum bench ingest --server` (online/ingest/visibility.py) against a real gRPC server.

The features store here is the server's in-memory one (it is also an EventSink); the Feast-backed
path is exercised by tests/test_serve_feast.py. The delay is printed, not asserted (the 1 s bar is
the benchmark's); the test asserts every purchase became visible before a generous deadline.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from online.ingest.consumer import ConsumerConfig, IngestConsumer
from online.ingest.pipeline import IngestPipeline
from online.ingest.topics import ensure_topic
from online.ingest.visibility import visibility_latency
from tests.fixtures.services import unique_topic, wait_until

pytestmark = pytest.mark.kafka


def test_purchase_on_kafka_is_excluded_from_the_next_recommend(kafka_bootstrap: str, tmp_path) -> None:
    from online.server.feature_source import InMemoryFeatures
    from tests.serving_helpers import make_bundle, serving

    bundle = make_bundle(tmp_path / "bundle")
    features = InMemoryFeatures()
    topic, group = unique_topic("visible"), unique_topic("g")
    ensure_topic(kafka_bootstrap, topic)
    consumer = IngestConsumer(
        ConsumerConfig(bootstrap=kafka_bootstrap, topic=topic, group_id=group, poll_timeout_ms=50),
        IngestPipeline(features, door="test"),
    )
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    try:
        wait_until(consumer.assigned, 60, what="the ingest consumer to join its group")

        async def body() -> dict:
            async with serving(bundle, features) as (_stub, _server, port, _channel):
                return await asyncio.to_thread(
                    visibility_latency, kafka_bootstrap, topic, f"127.0.0.1:{port}", samples=5, timeout_s=15.0
                )

        result = asyncio.run(body())
    finally:
        consumer.stop()
        thread.join(timeout=60)
    print(f"event-to-visible latency: {result}")
    assert result["samples"] == 5 and result["misses"] == 0
    assert consumer.applied == 5  # one purchase per sample, each applied once
