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

import numpy as np


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    arr = np.asarray(values) * 1000.0
    return {
        "p50_ms": float(np.percentile(arr, 50)),
        "p99_ms": float(np.percentile(arr, 99)),
        "max_ms": float(arr.max()),
    }


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
    from online.ingest.consumer import producer_settings

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
