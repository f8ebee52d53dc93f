"""The real services the integration tests rely on: a Kafka broker and a redis-server on loopback."""

from __future__ import annotations

import time

import pytest

from tests.fixtures.services import unique_topic


@pytest.mark.kafka
def test_kafka_produce_and_consume_round_trip(kafka_bootstrap: str) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    topic = unique_topic("roundtrip")
    sent = [f"message-{i}".encode() for i in range(20)]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    try:
        for i, value in enumerate(sent):
            producer.send(topic, key=str(i).encode(), value=value)
        producer.flush(timeout=30)
    finally:
        producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=unique_topic("g"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    received: list[bytes] = []
    deadline = time.monotonic() + 60
    try:
        while len(received) < len(sent) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                received.extend(r.value for r in records)
    finally:
        consumer.close()
    # one partition (the broker's default): order is kept, and nothing is missing or doubled
    assert received == sent


@pytest.mark.redis
def test_redis_set_get(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        assert client.ping() is True
        client.set("fulcrum:test", b"\x00value", ex=60)
        assert client.get("fulcrum:test") == b"\x00value"
        assert 0 < client.ttl("fulcrum:test") <= 60
        assert client.get("fulcrum:missing") is None
    finally:
        client.close()
