"""Kafka ingestion against the REAL broker (deploy/kafka): exactly-once effects on an at-least-once
stream, dead letters with reasons, a broker restart and a failing sink losing nothing, a second
consumer joining while the first is gathering a batch."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from fulcrum.v1 import recommender_pb2 as pb
from online.ingest.consumer import IngestConsumer
from online.ingest.consumer_config import ConsumerConfig
from online.ingest.decode import ENCODING_BATCH, ENCODING_HEADER
from online.ingest.dedupe import MemoryDedupe, RedisDedupe
from online.ingest.dlq import KafkaDeadLetter, original_payload
from online.ingest.memory_sink import MemorySink
from online.ingest.pipeline import IngestPipeline
from online.ingest.producer import producer_settings
from tests.fixtures.services import unique_topic, wait_until

pytestmark = pytest.mark.kafka

TS = 1_320_969_600_000  # 2011-11-11


def event(i: int, **over) -> pb.Event:
    fields = dict(
        event_id=f"e{i}",
        type=pb.VIEW if i % 3 else pb.PURCHASE,
        user_id=f"u{i % 17}",
        item_id=f"sku{i % 29}",
        quantity=1.0,
        price=1.25,
        timestamp_ms=TS + i,
    )
    fields.update(over)
    return pb.Event(**fields)


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics({topic: {"num_partitions": partitions, "replication_factor": 1}})
    finally:
        admin.close()


def make_producer(bootstrap: str):
    from kafka import KafkaProducer

    return KafkaProducer(**producer_settings(bootstrap, client_id="test-producer"))


def send_events(producer, topic: str, events: list[pb.Event], as_batch: bool = False) -> list:
    if as_batch:
        return [
            producer.send(
                topic,
                value=pb.EventBatch(events=events).SerializeToString(),
                headers=[(ENCODING_HEADER, ENCODING_BATCH)],
            )
        ]
    return [producer.send(topic, key=e.user_id.encode(), value=e.SerializeToString()) for e in events]


def make_consumer(
    bootstrap: str, topic: str, group: str, sink, dedupe, producer, **overrides
) -> IngestConsumer:
    settings = dict(
        bootstrap=bootstrap,
        topic=topic,
        group_id=group,
        max_poll_records=200,
        poll_timeout_ms=200,
        backoff_initial_s=0.05,
        backoff_max_s=0.5,
        consumer_options={"session_timeout_ms": 10_000, "heartbeat_interval_ms": 1_000},
    )
    config = ConsumerConfig(**{**settings, **overrides})
    dlq = KafkaDeadLetter(producer, config.dead_letter_topic)
    return IngestConsumer(config, IngestPipeline(sink, dedupe=dedupe, dlq=dlq, door="test"))


@contextmanager
def running(consumer: IngestConsumer) -> Iterator[threading.Thread]:
    errors: list[BaseException] = []

    def target() -> None:
        try:
            consumer.run()
        except BaseException as e:  # surfaced in the test thread below
            errors.append(e)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        consumer.stop()
        thread.join(timeout=60)
    assert not thread.is_alive(), "consumer did not stop"
    if errors:
        raise errors[0]


def read_all(bootstrap: str, topic: str, expected: int, timeout: float = 60) -> list:
    from kafka import KafkaConsumer

    reader = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    got: list = []
    try:

        def enough() -> bool:
            for records in reader.poll(timeout_ms=200).values():
                got.extend(records)
            return len(got) >= expected

        wait_until(enough, timeout, interval=0, what=f"{expected} records on {topic}")
        # nothing beyond the expected ones arrives in one more poll
        for records in reader.poll(timeout_ms=500).values():
            got.extend(records)
    finally:
        reader.close()
    return got


def committed_equals_end(bootstrap: str, topic: str, group: str) -> bool:
    from kafka import KafkaConsumer, TopicPartition

    probe = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(probe.partitions_for_topic(topic) or ())]
        ends = probe.end_offsets(parts)
        return all((probe.committed(tp) or 0) == ends[tp] for tp in parts)
    finally:
        probe.close()


def test_valid_events_applied_exactly_once_and_bad_ones_in_the_dlq(kafka_bootstrap: str) -> None:
    topic, group = unique_topic("ingest"), unique_topic("g")
    create_topic(kafka_bootstrap, topic, partitions=3)
    producer = make_producer(kafka_bootstrap)
    valid = [event(i) for i in range(300)]
    # 240 as single records, 60 inside two EventBatch records, one of which carries a bad event
    futures = send_events(producer, topic, valid[:240])
    futures += send_events(producer, topic, valid[240:270], as_batch=True)
    futures += send_events(producer, topic, valid[270:] + [event(999, item_id="")], as_batch=True)
    bad = {  # payload -> the code its dead letter must carry
        b"\x00\x01garbage": "payload:undecodable",
        event(1000, quantity=-5).SerializeToString(): "quantity:out_of_range",
        event(1001, quantity=5e9).SerializeToString(): "quantity:out_of_range",
        event(1002, timestamp_ms=12).SerializeToString(): "timestamp_ms:out_of_range",
        event(1003, timestamp_ms=4_102_444_800_000).SerializeToString(): "timestamp_ms:out_of_range",  # 2100
        event(1004, type=0).SerializeToString(): "type:unknown",
        event(1005, user_id="").SerializeToString(): "user_id:missing",
        event(1006, event_id="").SerializeToString(): "event_id:missing",
        event(1007, event_id="x" * 500).SerializeToString(): "event_id:too_long",
        event(1008, type=pb.ITEM_UPSERT, item_text="").SerializeToString(): "item_text:missing",
        b'{"event_id": "j1", "type": "FLY", "user_id": "u", "item_id": "i", "timestamp_ms": 1320969600000}': (
            "type:unknown"
        ),
        b"{broken json": "payload:undecodable",
    }
    for payload in bad:
        futures.append(producer.send(topic, value=payload))
    producer.flush()
    assert not [f for f in futures if f.failed()]

    sink = MemorySink()
    consumer = make_consumer(kafka_bootstrap, topic, group, sink, MemoryDedupe(), producer)
    with running(consumer):
        wait_until(
            lambda: sink.applied_count >= 300 and consumer.rejected >= len(bad) + 1,
            90,
            what="all events consumed",
        )
        wait_until(
            lambda: committed_equals_end(kafka_bootstrap, topic, group),
            30,
            interval=0.2,
            what="offsets committed",
        )
    assert sink.times_applied == {e.event_id: 1 for e in valid}

    letters = read_all(kafka_bootstrap, f"{topic}.dlq", len(bad) + 1)
    assert len(letters) == len(bad) + 1
    found = {}
    for rec in letters:
        doc = json.loads(rec.value)
        headers = dict(rec.headers)
        assert headers["fulcrum-reason"].decode() == doc["reason"] and doc["reason"]
        assert headers["fulcrum-code"].decode() == doc["code"]
        assert doc["source"].startswith(f"{topic}/")
        found[original_payload(doc)] = doc["code"]
    assert found[event(999, item_id="").SerializeToString()] == "item_id:missing"  # from inside a batch
    del found[event(999, item_id="").SerializeToString()]
    assert found == bad
    producer.close()


@pytest.mark.redis
def test_a_redelivered_batch_changes_nothing_twice(kafka_bootstrap: str, redis_url: str) -> None:
    import redis

    topic, group = unique_topic("redeliver"), unique_topic("g")
    producer = make_producer(kafka_bootstrap)
    send_events(producer, topic, [event(i) for i in range(150)])
    producer.flush()
    prefix = f"test:{topic}:"

    # first consumer applies everything but "crashes" before committing any offset
    sink = MemorySink()
    first = make_consumer(
        kafka_bootstrap,
        topic,
        group,
        sink,
        RedisDedupe(redis.Redis.from_url(redis_url), ttl_s=600, prefix=prefix),
        producer,
    )
    first._commit = lambda ends: None  # type: ignore[method-assign]
    first.open()
    wait_until(
        lambda: first.poll_once() >= 0 and sink.applied_count >= 150, 60, interval=0, what="first pass"
    )
    first.close()
    assert not committed_equals_end(kafka_bootstrap, topic, group)

    # a restarted consumer (new process memory, same Redis) gets the whole batch again
    second = make_consumer(
        kafka_bootstrap,
        topic,
        group,
        sink,
        RedisDedupe(redis.Redis.from_url(redis_url), ttl_s=600, prefix=prefix),
        producer,
    )
    second.open()
    wait_until(
        lambda: second.poll_once() >= 0 and second.duplicates >= 150, 60, interval=0, what="redelivery"
    )
    wait_until(
        lambda: committed_equals_end(kafka_bootstrap, topic, group),
        30,
        interval=0.2,
        what="offsets committed",
    )
    second.close()
    assert second.applied == 0
    assert sink.times_applied == {f"e{i}": 1 for i in range(150)}
    producer.close()


@pytest.mark.slow
def test_broker_restart_mid_stream_loses_nothing(fresh_kafka_broker) -> None:
    broker = fresh_kafka_broker
    topic, group = unique_topic("restart"), unique_topic("g")
    create_topic(broker.bootstrap, topic, partitions=2)
    producer = make_producer(broker.bootstrap)
    sink = MemorySink()
    consumer = make_consumer(broker.bootstrap, topic, group, sink, MemoryDedupe(), producer)
    futures: list = []
    with running(consumer):
        futures += send_events(producer, topic, [event(i) for i in range(0, 400)])
        producer.flush()
        wait_until(lambda: sink.applied_count >= 100, 60, what="consumption under way")
        broker.stop()
        # sent while the broker is down: buffered by the producer, delivered after the restart
        futures += send_events(producer, topic, [event(i) for i in range(400, 600)])
        broker.start()
        futures += send_events(producer, topic, [event(i) for i in range(600, 1000)])
        producer.flush(timeout=120)
        produced = sum(1 for f in futures if f.succeeded())
        assert produced == 1000 and not [f for f in futures if f.failed()]
        wait_until(lambda: sink.applied_count >= produced, 120, what="every produced event applied")
        wait_until(
            lambda: committed_equals_end(broker.bootstrap, topic, group),
            60,
            interval=0.2,
            what="offsets committed after the restart",
        )
    assert sink.applied_count == produced
    assert sink.times_applied == {f"e{i}": 1 for i in range(1000)}
    producer.close()


def test_a_consumer_joining_mid_batch_leaves_every_event_applied_once(kafka_bootstrap: str) -> None:
    topic, group = unique_topic("rebalance"), unique_topic("g")
    partitions, per_partition = 4, 60
    create_topic(kafka_bootstrap, topic, partitions=partitions)
    producer = make_producer(kafka_bootstrap)
    ids = [p * 1000 + k for p in range(partitions) for k in range(per_partition)]
    futures = [producer.send(topic, value=event(i).SerializeToString(), partition=i // 1000) for i in ids]
    producer.flush()
    assert not [f for f in futures if f.failed()]

    # one online store, two processes: each consumer has its own in-process dedupe, so an event
    # applied by both would count twice in the sink. The range assignor orders members by id
    # (client id first), so after the join "ingest-a" keeps partitions 0 and 1 and "ingest-b"
    # takes 2 and 3.
    sink = MemorySink()
    # the first consumer gathers until it is caught up (its count and time bounds are far above
    # 240 events and the seconds this takes), 20 records a poll
    first = make_consumer(
        kafka_bootstrap,
        topic,
        group,
        sink,
        MemoryDedupe(),
        producer,
        client_id="ingest-a",
        max_poll_records=20,
        max_batch_events=1_000_000,
        max_batch_wait_ms=30_000,
    )
    second = make_consumer(
        kafka_bootstrap, topic, group, sink, MemoryDedupe(), producer, client_id="ingest-b"
    )
    gathering = threading.Event()
    real_decode = first.pipeline.decode

    def rebalancing_for_the_second() -> bool:
        # the broker holds the group in PreparingRebalance from the second consumer's JoinGroup
        # until every member rejoined (the first cannot: it is held below); the first consumer's
        # rejoin flag is set by its next heartbeat (kafka-python 3.0.12's coordinator state,
        # pinned; no public API shows it). A rejoin the first consumer asked for by itself (its
        # metadata of the new topic changed) cannot pass: the group is Stable meanwhile.
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        try:
            state = admin.describe_groups([group])[group].get("group_state")
        finally:
            admin.close()
        return state == "PreparingRebalance" and first._consumer._coordinator.need_rejoin()

    def decode_then_hold(records):
        # the first time the open batch gets records of a partition that will move (20 of its 60,
        # so the broker holds more and the batch keeps gathering), let the second consumer join
        # and hold this poll until the first consumer knows of that rebalance: its next poll,
        # inside the same batch, is the one that revokes
        records = list(records)
        if not gathering.is_set() and {r.source.split("/")[1] for r in records} & {"2", "3"}:
            gathering.set()
            wait_until(rebalancing_for_the_second, 60, interval=0.1, what="the first consumer told to rejoin")
        return real_decode(records)

    first.pipeline.decode = decode_then_hold  # type: ignore[method-assign]
    with running(first):
        wait_until(gathering.is_set, 180, what="a batch holding a partition that will move")
        with running(second):
            wait_until(lambda: sink.applied_count >= len(ids), 90, what="every event applied")
            wait_until(
                lambda: committed_equals_end(kafka_bootstrap, topic, group),
                30,
                interval=0.2,
                what="offsets committed by both consumers",
            )
    # the rebalance fell inside the batch: its records left it (and were fetched again by their
    # owner); every event was applied exactly once, by one consumer or the other
    assert sink.times_applied == {f"e{i}": 1 for i in ids}
    assert first.applied + second.applied == len(ids) and second.applied > 0
    assert first.dropped_on_revoke > 0
    producer.close()


def test_a_failing_sink_is_retried_and_nothing_is_lost(kafka_bootstrap: str) -> None:
    topic, group = unique_topic("sinkdown"), unique_topic("g")
    producer = make_producer(kafka_bootstrap)
    sink = MemorySink()
    consumer = make_consumer(kafka_bootstrap, topic, group, sink, MemoryDedupe(), producer)
    with running(consumer):
        send_events(producer, topic, [event(i) for i in range(100)])
        producer.flush()
        wait_until(lambda: sink.applied_count >= 100, 60, what="first 100 applied")
        sink.set_down(True)
        send_events(producer, topic, [event(i) for i in range(100, 250)])
        producer.flush()
        wait_until(lambda: consumer.retries >= 3, 60, what="retries while the sink is down")
        wait_until(lambda: consumer.lag >= 150, 30, what="the lag gauge showing the backlog")
        assert sink.applied_count == 100  # nothing applied (nor committed) while down
        assert not committed_equals_end(kafka_bootstrap, topic, group)
        sink.set_down(False)
        wait_until(lambda: sink.applied_count >= 250, 60, what="backlog applied after recovery")
        wait_until(
            lambda: committed_equals_end(kafka_bootstrap, topic, group),
            30,
            interval=0.2,
            what="offsets committed after recovery",
        )
    assert sink.failed_calls >= 3
    assert sink.times_applied == {f"e{i}": 1 for i in range(250)}
    producer.close()


def test_fulcrum_ingest_commits_and_stops_cleanly_on_sigterm(kafka_bootstrap: str, tmp_path) -> None:
    import signal
    import subprocess
    import sys

    topic, group = unique_topic("cli"), unique_topic("g")
    producer = make_producer(kafka_bootstrap)
    send_events(
        producer,
        topic,
        [event(i) for i in range(50)]
        + [event(50, type=pb.ITEM_UPSERT, user_id="", item_id="new-1", item_text="Tin robot")],
    )
    producer.send(topic, value=b"\xffnot an event")
    producer.flush()
    producer.close()
    proc = subprocess.Popen(
        # the `fulcrum ingest` command function alone (independent of other commands' imports)
        [
            sys.executable,
            "-c",
            "import typer; from online.ingest.commands import ingest; typer.run(ingest)",
            "--bootstrap",
            kafka_bootstrap,
            "--topic",
            topic,
            "--group",
            group,
            "--memory",
            "--offline-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: proc.poll() is None and committed_equals_end(kafka_bootstrap, topic, group),
            90,
            interval=0.5,
            what="the ingest command to commit everything",
        )
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert "51 applied, 1 rejected" in out
    import pandas as pd

    assert len(pd.read_parquet(tmp_path / "ingested" / "events")) == 50  # the offline append sink
    assert pd.read_parquet(tmp_path / "ingested" / "items")["text"].tolist() == ["Tin robot"]
