"""A replica follows the REAL Kafka events topic: an ITEM_UPSERT produced there becomes searchable."""

from __future__ import annotations

import asyncio
import time

import pytest

from fulcrum.v1 import recommender_pb2 as pb
from online.ingest.producer import producer_settings
from online.server.feature_source import InMemoryFeatures
from tests.fixtures.services import unique_topic
from tests.serving_helpers import make_bundle, serving

pytestmark = pytest.mark.kafka


def test_item_upsert_on_kafka_is_searchable_within_seconds(kafka_bootstrap, tmp_path):
    from kafka import KafkaProducer

    bundle = make_bundle(tmp_path / "b")
    topic = unique_topic("serve")
    ms = int(time.time() * 1000)
    producer = KafkaProducer(**producer_settings(kafka_bootstrap, client_id="serve-test"))
    early = pb.Event(
        event_id="k-up-0",
        type=pb.ITEM_UPSERT,
        item_id="kafka-0",
        item_text="wooden bird lantern",
        price=2.0,
        timestamp_ms=ms,
    )
    producer.send(topic, value=early.SerializeToString()).get(timeout=30)  # before the replica starts

    async def body():
        async with serving(
            bundle, InMemoryFeatures(), catalogue_kafka=kafka_bootstrap, catalogue_topic=topic
        ) as (stub, server, *_):
            late = pb.Event(
                event_id="k-up-1",
                type=pb.ITEM_UPSERT,
                item_id="kafka-1",
                item_text="retro tea sign",
                price=2.0,
                timestamp_ms=ms,
            )
            view = pb.Event(event_id="k-v-1", type=pb.VIEW, user_id="u", item_id="sku-001", timestamp_ms=ms)
            sent = time.perf_counter()
            for e in (view, late):
                producer.send(topic, value=e.SerializeToString())
            producer.flush(timeout=30)
            found = {}
            deadline = time.monotonic() + 30
            while len(found) < 2 and time.monotonic() < deadline:
                for item, text in (("kafka-0", "wooden bird lantern"), ("kafka-1", "retro tea sign")):
                    r = await stub.Search(pb.SearchRequest(query=text, k=1))
                    if r.items[0].item_id == item:
                        found[item] = time.perf_counter() - sent
                await asyncio.sleep(0.05)
            info = await stub.GetModelInfo(pb.GetModelInfoRequest())
            return found, info, server.follower.applied

    try:
        found, info, applied = asyncio.run(body())
    finally:
        producer.close()
    assert set(found) == {"kafka-0", "kafka-1"}, found
    assert info.catalogue_size == 42 and applied == 2  # the VIEW was not an item
