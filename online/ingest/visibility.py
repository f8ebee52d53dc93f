"""Event-to-visible latency: how long after a PURCHASE is produced to Kafka does Recommend stop
offering that item to that user (the anti-recommendation going live).

Needs a running deployment: `fulcrum ingest --feature-repo R` consuming ``topic`` into the Feast
online store that `fulcrum serve` (with ``feature_repo: R``) reads. For each sample a fresh user
asks Recommend for its top item, the PURCHASE of that item is produced, and Recommend is polled
until the item is gone (or ``timeout_s`` passes: counted as a miss).
"""

from __future__ import annotations

import time
import uuid
from typing import Any


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    from fulcrum.core.percentiles import percentile

    ms = [v * 1000.0 for v in values]
    return {"p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99), "max_ms": max(ms)}


def visibility_latency(
    bootstrap: str,
    topic: str,
    server: str,
    samples: int = 50,
    timeout_s: float = 10.0,
    k: int = 10,
    producer: Any = None,
) -> dict[str, Any]:
    """Measure ``samples`` produce -> excluded-from-Recommend delays; returns p50/p99 and misses."""
    import grpc
    from kafka import KafkaProducer

    from fulcrum.v1 import recommender_pb2 as pb
    from fulcrum.v1 import recommender_pb2_grpc
    from online.ingest.producer import producer_settings

    own_producer = producer is None
    if own_producer:
        producer = KafkaProducer(**producer_settings(bootstrap, linger_ms=0, client_id="fulcrum-visibility"))
    channel = grpc.insecure_channel(server)
    stub = recommender_pb2_grpc.RecommenderStub(channel)
    run = uuid.uuid4().hex[:8]
    delays: list[float] = []
    misses = 0
    try:
        for s in range(samples):
            user = f"visibility-{run}-{s}"
            request = pb.RecommendRequest(user_id=user, k=k)
            first = stub.Recommend(request, timeout=5)
            if not first.items:
                raise RuntimeError(f"Recommend returned no items for {user}: nothing to make disappear")
            target = first.items[0].item_id
            event = pb.Event(
                event_id=f"vis-{run}-{s}",
                type=pb.PURCHASE,
                user_id=user,
                item_id=target,
                quantity=1.0,
                price=1.0,
                timestamp_ms=int(time.time() * 1000),
            )
            started = time.perf_counter()
            producer.send(topic, key=user.encode(), value=event.SerializeToString())
            producer.flush()
            deadline = started + timeout_s
            while True:
                reply = stub.Recommend(request, timeout=5)
                if all(item.item_id != target for item in reply.items):
                    delays.append(time.perf_counter() - started)
                    break
                if time.perf_counter() > deadline:
                    misses += 1
                    break
    finally:
        channel.close()
        if own_producer:
            producer.close()
    return {"samples": samples, "misses": misses, "timeout_s": timeout_s, **_percentiles(delays)}


def embedded_visibility(
    bootstrap: str,
    bundle: Any,
    samples: int = 50,
    timeout_s: float = 10.0,
    feature_repo: Any = None,
    feature_timeout_s: float = 0.5,
) -> dict[str, Any]:
    """The same measure against an embedded deployment: a gRPC server on a loopback port fed by
    the Kafka door (an ``IngestConsumer`` thread). Without ``feature_repo`` the server's in-memory
    feature store is both what Recommend reads and what ingestion writes; with it (an applied Feast
    repo, its own configured online store) ingestion pushes through ``FeastEventSink`` and
    Recommend reads through ``FeastFeatureSource``, as `fulcrum ingest` + `fulcrum serve` do."""
    import asyncio
    import threading
    from pathlib import Path

    from online.config import build_config
    from online.ingest.consumer import IngestConsumer
    from online.ingest.consumer_config import ConsumerConfig
    from online.ingest.pipeline import IngestPipeline
    from online.ingest.topics import ensure_topic
    from online.security.config import LOOPBACK_DEMO
    from online.server.app import create_server
    from online.server.feature_source import InMemoryFeatures

    if feature_repo is None:
        features: Any = InMemoryFeatures()
        sink: Any = features
        deployment = "embedded (in-memory features, Kafka door)"
    else:
        from online.features.sink import FeastEventSink
        from online.server.feature_source import FeastFeatureSource

        features = FeastFeatureSource.from_repo(str(feature_repo), feature_timeout_s)
        sink = FeastEventSink(features.client.store)
        deployment = f"embedded (Feast repo {feature_repo}, Kafka door)"
    topic = f"visibility-{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic)
    consumer = IngestConsumer(
        ConsumerConfig(bootstrap=bootstrap, topic=topic, group_id=topic, poll_timeout_ms=50),
        IngestPipeline(sink, door="visibility"),
    )
    thread = threading.Thread(target=consumer.run, name="visibility-ingest", daemon=True)
    thread.start()

    async def measure() -> dict[str, Any]:
        config = build_config(
            {"host": "127.0.0.1", "port": 0, "metrics_port": 0, "security": LOOPBACK_DEMO}, env={}
        )
        server, port = await create_server(config, Path(bundle), features, None)
        await server.start()
        try:
            return await asyncio.to_thread(
                visibility_latency, bootstrap, topic, f"127.0.0.1:{port}", samples, timeout_s
            )
        finally:
            await server.stop(0)

    try:
        deadline = time.monotonic() + 60
        while not consumer.assigned():
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError(f"the ingest consumer did not join group {topic} within 60s")
            time.sleep(0.05)  # polling the join with a deadline
        result = asyncio.run(measure())
    finally:
        consumer.stop()
        thread.join(timeout=60)
    return {**result, "deployment": deployment, "applied": consumer.applied}
