"""A forget while `fulcrum ingest` runs: the consumer holds the user's row in its cache and more
of their events are still in Kafka. With the real broker, the real Feast online store (SQLite and
the real Redis) and the `fulcrum forget` command in its own process: after the forget nothing of
the user is written back (the tombstones of online/privacy/tombstones.py), and the race branch
(a forget landing between a batch's read and its write) is erased again."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pandas as pd
import pytest

from fulcrum.core import schema as S
from fulcrum.core.events import Event
from fulcrum.v1 import recommender_pb2 as pb
from online.privacy.tombstones import ForgetAwareSink, Tombstones
from tests.fixtures.services import unique_topic, wait_until

T = 1_305_000_000_000  # after the synthetic history
GHOST = "forget-me-in-flight-5d2e"


def _event(k: int, user: str) -> pb.Event:
    return pb.Event(event_id=f"{user}-{k}", type=pb.PURCHASE, user_id=user, item_id=f"i{k % 6}",
                    quantity=1.0, price=2.0, timestamp_ms=T + k * 1000)


def _online_bytes(store_kind: str, repo, url: str | None) -> bytes:
    if store_kind == "sqlite":
        return b"".join(p.read_bytes() for p in (repo / "data").glob("online*.db*"))
    import redis

    client, out = redis.Redis.from_url(url), []
    for key in client.scan_iter(count=1000):
        out.append(key)
        if client.type(key) == b"hash":
            for f, v in client.hgetall(key).items():
                out += [f, v]
    return b"".join(out)


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.parametrize("store_kind", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_a_running_consumer_never_writes_a_forgotten_user_back(store_kind, request, kafka_bootstrap,
                                                               tmp_path):
    from kafka import KafkaProducer

    from offline.features.pipeline import build_features
    from online.features.client import OnlineFeatureClient
    from online.ingest.consumer_config import ConsumerConfig
    from online.ingest.factory import SinkConfig, build_kafka_ingest, build_sink
    from online.ingest.producer import producer_settings
    from online.ingest.topics import ensure_topic
    from tests.feature_repo_copy import copy_repo, synthetic_events

    url = request.getfixturevalue("redis_url") if store_kind == "redis" else None
    repo, offline = copy_repo(tmp_path / "feast"), tmp_path / "offline"
    build_features(synthetic_events(n=80), repo, store=store_kind, redis_url=url)
    client = OnlineFeatureClient.open(repo, store_kind, url, default_timeout_s=5.0)

    topic, group = unique_topic("forget"), unique_topic("g")
    ensure_topic(kafka_bootstrap, topic)
    producer = KafkaProducer(**producer_settings(kafka_bootstrap))

    def send(events):
        for e in events:
            producer.send(topic, key=e.user_id.encode(), value=e.SerializeToString())
        producer.flush()

    # the consumer caches user rows (the default cache) and appends to the offline store
    sink = build_sink(SinkConfig(feature_repo=repo, offline_dir=offline, feature_store=store_kind,
                                 redis_url=url))
    assert isinstance(sink, ForgetAwareSink)
    consumer, dlq_producer = build_kafka_ingest(
        ConsumerConfig(bootstrap=kafka_bootstrap, topic=topic, group_id=group, poll_timeout_ms=100), sink
    )
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    try:
        send([_event(k, GHOST) for k in range(6)] + [_event(k, "stays-a") for k in range(3)])
        wait_until(lambda: consumer.applied >= 9, 120, what="the first events")
        assert not client.get_user_profile(GHOST).miss
        assert GHOST.encode() in _online_bytes(store_kind, repo, url)

        # `fulcrum forget` in its own process, while the consumer runs with the row in its cache
        env = {**os.environ, "PYTHONPATH": os.getcwd()}
        run = subprocess.run(
            [sys.executable, "-m", "fulcrum.cli", "forget", "--user", GHOST, "--feature-repo", str(repo),
             "--store", store_kind, "--offline-dir", str(offline), *(["--redis-url", url] if url else [])],
            capture_output=True, text=True, timeout=180, env=env,
        )
        assert run.returncode == 0, run.stderr
        assert GHOST not in run.stdout + run.stderr  # the command names counts, never the user

        # events of the user still in Kafka (sent before the forget reached the shop) + another user
        send([_event(k, GHOST) for k in range(6, 10)] + [_event(k, "stays-b") for k in range(3)])
        wait_until(lambda: not client.get_user_profile("stays-b").miss, 120, what="the later batch")
        wait_until(lambda: consumer.applied >= 16, 60, what="the later batch counted")
    finally:
        consumer.stop()
        thread.join(timeout=60)
        dlq_producer.close()
        producer.close()

    # nothing of the user came back: the online store, the offline store
    assert client.get_user_profile(GHOST).miss
    assert GHOST.encode() not in _online_bytes(store_kind, repo, url)
    for path in offline.rglob("*.parquet"):
        assert not pd.read_parquet(path)[S.USER_ID].astype(str).eq(GHOST).any(), path
    parts = list(offline.rglob("*.parquet"))
    assert any(pd.read_parquet(p)[S.USER_ID].astype(str).eq("stays-b").any() for p in parts)
    assert client.get_user_profile("stays-a").profile.purchase_count == 3


def _ev(user: str, k: int) -> Event:
    return Event(event_id=f"{user}-{k}", event_type="PURCHASE", user_id=user, item_id="i1", quantity=1.0,
                 price=1.0, timestamp_ms=T + k, session_id="", item_text="")


class _RacingSink:
    """A sink double whose write lands just after a forget of ``victim`` (tombstone recorded)."""

    def __init__(self, tombstones: Tombstones, victim: str) -> None:
        self.tombstones, self.victim = tombstones, victim
        self.rows: dict[str, int] = {}
        self.cleared = 0

    def apply(self, events):
        self.tombstones.add(self.victim)  # the forget ran while this batch was being folded ...
        for e in events:  # ... and this write brings the row back
            self.rows[e.user_id] = self.rows.get(e.user_id, 0) + 1

    def clear_cache(self):
        self.cleared += 1


def test_a_forget_between_read_and_write_is_erased_again(tmp_path):
    tombstones = Tombstones([tmp_path])
    inner = _RacingSink(tombstones, "x")
    erased: list[str] = []

    def erase(user):
        erased.append(user)
        inner.rows.pop(user, None)

    sink = ForgetAwareSink(inner, tombstones, erase, door="test")
    sink.apply([_ev("x", 1), _ev("y", 2)])
    assert erased == ["x"] and inner.rows == {"y": 1} and inner.cleared == 1
    # later events of x are dropped before the write; y's go through
    sink.apply([_ev("x", 3), _ev("y", 4)])
    assert inner.rows == {"y": 2} and erased == ["x"]


def test_tombstones_read_ledger_updates_and_hold_no_ids(tmp_path):
    a, b = Tombstones([tmp_path]), Tombstones([tmp_path])  # two processes sharing the folder
    assert b.forgotten(["u1", "u2"]) == set()
    a.add("u2")
    assert b.forgotten(["u1", "u2", ""]) == {"u2"}
    assert "u2" not in (tmp_path / "forgotten_users.sha256").read_text().split()


@pytest.mark.redis
def test_tombstones_in_the_shared_redis_set(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    a, b = Tombstones([], client), Tombstones([], lambda: client)
    a.add("r-user-1")
    assert b.forgotten(["r-user-1", "r-user-2"]) == {"r-user-1"}
    assert all(b"r-user" not in m for m in client.smembers("fulcrum:forgotten_users"))


def test_a_forget_elsewhere_clears_the_cache_at_the_next_batch(tmp_path):
    class Recorder:
        def __init__(self):
            self.cleared = 0

        def apply(self, events):
            pass

        def clear_cache(self):
            self.cleared += 1

    tombstones, inner = Tombstones([tmp_path]), Recorder()
    sink = ForgetAwareSink(inner, tombstones, erase=lambda u: None, door="test")
    sink.apply([_ev("a", 1)])
    sink.apply([_ev("a", 2)])
    assert inner.cleared == 0  # nothing forgotten: the cache stays
    Tombstones([tmp_path]).add("someone-not-in-this-batch")  # another process's forget
    sink.apply([_ev("a", 3)])
    assert inner.cleared == 1  # their cached state (if any) is dropped
    sink.apply([_ev("a", 4)])
    assert inner.cleared == 1
