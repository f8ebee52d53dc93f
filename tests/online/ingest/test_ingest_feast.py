"""Kafka -> `fulcrum ingest`'s sink choice (build_sink with a feature repo) -> the REAL Feast online
store: every valid event applied exactly once, redeliveries change nothing, bad ones dead-lettered."""

from __future__ import annotations

import threading

import pytest

from fulcrum.v1 import recommender_pb2 as pb
from online.ingest.consumer_config import ConsumerConfig
from online.ingest.factory import SinkConfig, build_kafka_ingest, build_sink
from online.ingest.producer import producer_settings
from online.ingest.topics import ensure_topic
from tests.fixtures.services import unique_topic, wait_until

pytest.importorskip("feast")
pytestmark = [pytest.mark.kafka, pytest.mark.slow]

T = 1_305_000_000_000  # 2011-05-10, after the synthetic history


def purchase(k: int, user: str = "kafka-u") -> pb.Event:
    return pb.Event(
        event_id=f"kp{k}",
        type=pb.PURCHASE,
        user_id=user,
        item_id=f"i{k % 6}",
        quantity=1.0,
        price=2.0,
        timestamp_ms=T + k * 1000,
    )


def test_kafka_events_reach_the_feast_online_store_exactly_once(kafka_bootstrap: str, tmp_path) -> None:
    from kafka import KafkaProducer

    from offline.features.pipeline import build_features
    from online.features.client import OnlineFeatureClient
    from tests.feature_repo_copy import copy_repo, synthetic_events

    repo = copy_repo(tmp_path)
    build_features(synthetic_events(n=80), repo, store="sqlite")
    client = OnlineFeatureClient.open(repo, "sqlite", None, default_timeout_s=5.0)
    i0_before = client.get_item_stats(["i0"]).purchases[0]

    topic, group = unique_topic("feast"), unique_topic("g")
    ensure_topic(kafka_bootstrap, topic)
    producer = KafkaProducer(**producer_settings(kafka_bootstrap))
    events = [purchase(k) for k in range(12)]
    for e in events + events[:4]:  # the first four are delivered twice (a producer retry, say)
        producer.send(topic, value=e.SerializeToString())
    producer.send(topic, value=purchase(99, user="").SerializeToString())  # no user: dead letter
    producer.flush()

    sink = build_sink(SinkConfig(feature_repo=repo, feature_store="sqlite"))
    consumer, dlq_producer = build_kafka_ingest(
        ConsumerConfig(bootstrap=kafka_bootstrap, topic=topic, group_id=group, poll_timeout_ms=100), sink
    )
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    try:
        wait_until(
            lambda: consumer.applied + consumer.duplicates + consumer.rejected >= 17, 120, what="ingest"
        )
        # the same events once more, after they were applied: nothing changes
        for e in events:
            producer.send(topic, value=e.SerializeToString())
        producer.flush()
        wait_until(lambda: consumer.duplicates >= 16, 60, what="the redelivery")
    finally:
        consumer.stop()
        thread.join(timeout=60)
        dlq_producer.close()
        producer.close()
    assert (consumer.applied, consumer.duplicates, consumer.rejected) == (12, 16, 1)

    profile = client.get_user_profile("kafka-u").profile
    # 12 purchases of items i0..i5 (k % 6), each counted once
    assert profile.purchase_count == 12
    assert profile.bought == frozenset(f"i{j}" for j in range(6))
    # i0 was bought by kafka-u at k = 0 and k = 6: two more purchases in the item stats
    assert client.get_item_stats(["i0"]).purchases[0] == i0_before + 2
    client.close()
