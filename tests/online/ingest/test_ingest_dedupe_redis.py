"""The Redis idempotency store against a REAL redis-server: shared memory across consumers, TTLs,
and an unreachable Redis turning into SinkUnavailable (the consumer then backs off and retries)."""

from __future__ import annotations

import pytest

from online.ingest.dedupe import MemoryDedupe, RedisDedupe
from online.ingest.memory_sink import MemorySink
from online.ingest.pipeline import IngestPipeline
from online.ingest.sink import SinkUnavailable
from tests.fixtures.services import free_port, unique_topic

pytestmark = pytest.mark.redis


def test_two_pipelines_sharing_redis_apply_each_event_once(redis_url: str) -> None:
    from fulcrum.v1 import recommender_pb2 as pb

    prefix = unique_topic("dedupe") + ":"
    events = [
        pb.Event(event_id=f"r{i}", type=pb.VIEW, user_id="u", item_id="i", timestamp_ms=1_320_969_600_000)
        for i in range(10)
    ]
    sink = MemorySink()
    first = IngestPipeline(sink, RedisDedupe.from_url(redis_url, ttl_s=60, prefix=prefix))
    second = IngestPipeline(sink, RedisDedupe.from_url(redis_url, ttl_s=60, prefix=prefix))
    assert first.process(events[:6]).accepted == 6
    result = second.process(events)  # a different process: its local memory is empty, Redis is not
    assert (result.accepted, result.duplicates) == (4, 6)
    assert sink.times_applied == {f"r{i}": 1 for i in range(10)}


def test_keys_carry_the_ttl_and_the_local_cache_answers_first(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    prefix = unique_topic("ttl") + ":"
    store = RedisDedupe(client, ttl_s=120, prefix=prefix, local=MemoryDedupe(capacity=10))
    store.mark(["a", "b"])
    assert 0 < client.ttl(prefix + "a") <= 120
    assert store.seen(["a", "b", "c"]) == [True, True, False]
    client.delete(prefix + "a")  # the local LRU still knows "a": no round trip needed
    assert store.seen(["a"]) == [True]
    client.close()


def test_unreachable_redis_is_sink_unavailable() -> None:
    store = RedisDedupe.from_url(f"redis://127.0.0.1:{free_port()}", ttl_s=60)
    with pytest.raises(SinkUnavailable, match="redis idempotency store"):
        store.seen(["x"])
    with pytest.raises(SinkUnavailable):
        store.mark(["x"])
    assert store.local.seen(["x"]) == [False]  # nothing marked when Redis refused
