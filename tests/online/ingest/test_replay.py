"""`fulcrum replay`: which rows go out, in what order, how fast, and that they arrive intact."""

from __future__ import annotations

import pandas as pd
import pytest

from fulcrum.core import schema as S
from fulcrum.v1 import recommender_pb2 as pb
from online.ingest.decode import ENCODING_BATCH, ENCODING_HEADER
from online.ingest.replay import publish, replay_frame


def frame() -> tuple[pd.DataFrame, pd.DataFrame]:
    t = pd.Timestamp("2011-11-09T10:00:00Z")
    events = pd.DataFrame(
        {
            S.EVENT_ID: ["old", "a", "b", "c"],
            S.USER_ID: ["u1", "u1", "u2", "u1"],
            S.ITEM_ID: ["i0", "i1", "new", "i2"],
            S.EVENT_TYPE: ["PURCHASE", "PURCHASE", "PURCHASE", "CANCEL"],
            S.QUANTITY: [1.0, 2.0, 1.0, 2.0],
            S.PRICE: [1.0, 1.5, 9.0, 1.5],
            S.TIMESTAMP: [t - pd.Timedelta("1D"), t, t + pd.Timedelta("60s"), t + pd.Timedelta("120s")],
            S.SESSION_ID: ["s0", "s1", "s2", "s3"],
            S.SPLIT: ["train", "test", "test", "test"],
        }
    )
    items = pd.DataFrame(
        {
            S.ITEM_ID: ["i0", "new"],
            S.ITEM_TEXT: ["old mug", "new lamp"],
            S.PRICE: [1.0, 9.0],
            S.FIRST_SEEN: [t - pd.Timedelta("30D"), t + pd.Timedelta("60s")],
        }
    )
    return events, items


def test_replay_frame_keeps_the_period_and_announces_new_items_first() -> None:
    events, items = frame()
    out = replay_frame(events, "2011-11-09", items=items)
    # "old" is before --from; item "new" first seen at +60 s is announced just before "b" buys it
    assert out[S.EVENT_ID].tolist() == ["a", "item-upsert-new", "b", "c"]
    assert out["item_text"].tolist() == ["", "new lamp", "", ""]
    assert out["ts_ms"].diff().dropna().tolist() == [60_000.0, 0.0, 60_000.0]
    assert replay_frame(events, "2011-11-09", limit=2)[S.EVENT_ID].tolist() == ["a", "b"]


class FakeProducer:
    def __init__(self, clock):
        self.clock = clock
        self.sent: list[tuple[float, bytes, list]] = []

    def partitions_for(self, topic):
        return {0}

    def send(self, topic, value=None, key=None, partition=None, headers=None):
        self.sent.append((self.clock(), value, headers or []))

        class Done:
            def failed(self):
                return False

        return Done()

    def flush(self, timeout=None):
        pass


def test_speed_compresses_event_time() -> None:
    # events at 0 s, 60 s, 60 s, 120 s of event time; speed 60 -> due at 0, 1, 1, 2 s of wall time
    now = [0.0]
    producer = FakeProducer(lambda: now[0])

    def sleep(seconds: float) -> None:
        now[0] += seconds

    events, items = frame()
    out = replay_frame(events, "2011-11-09", items=items)
    stats = publish(producer, "events", out, speed=60, batch_size=10, clock=lambda: now[0], sleep=sleep)
    sent_at = [t for t, _, _ in producer.sent]
    assert sent_at == [0.0, 1.0, 2.0]  # one EventBatch record per due instant
    sizes = [len(pb.EventBatch.FromString(v).events) for _, v, _ in producer.sent]
    assert sizes == [1, 2, 1]
    assert all(h == [(ENCODING_HEADER, ENCODING_BATCH)] for _, _, h in producer.sent)
    assert (stats.events, stats.records) == (4, 3)


@pytest.mark.kafka
def test_replayed_events_arrive_intact_through_the_pipeline(kafka_bootstrap: str) -> None:
    from kafka import KafkaProducer

    from online.ingest.consumer import IngestConsumer
    from online.ingest.consumer_config import ConsumerConfig
    from online.ingest.memory_sink import MemorySink
    from online.ingest.pipeline import IngestPipeline
    from online.ingest.producer import producer_settings
    from online.ingest.topics import ensure_topic
    from tests.fixtures.services import unique_topic, wait_until

    events, items = frame()
    out = replay_frame(events, "2011-11-09", items=items)
    topic = unique_topic("replay")
    assert ensure_topic(kafka_bootstrap, topic, partitions=2)
    producer = KafkaProducer(**producer_settings(kafka_bootstrap))
    stats = publish(producer, topic, out, speed=0, batch_size=1)
    producer.close()
    assert stats.records == 4
    sink = MemorySink()
    consumer = IngestConsumer(
        ConsumerConfig(bootstrap=kafka_bootstrap, topic=topic, group_id=topic), IngestPipeline(sink)
    )
    try:
        wait_until(
            lambda: consumer.poll_once() >= 0 and sink.applied_count >= 4, 60, interval=0, what="replay"
        )
    finally:
        consumer.close()
    got = {e.event_id: e for e in sink.events}
    assert sorted(got) == ["a", "b", "c", "item-upsert-new"]
    assert got["item-upsert-new"].item_text == "new lamp" and got["item-upsert-new"].user_id == ""
    assert got["c"].event_type.value == "CANCEL" and got["c"].quantity == 2.0
    assert got["a"].timestamp_ms == int(pd.Timestamp("2011-11-09T10:00:00Z").value // 1_000_000)
    # one user's events keep their order (same partition)
    u1 = [e.event_id for e in sink.events if e.user_id == "u1"]
    assert u1 == ["a", "c"]
