"""Fault injection on the REAL broker and the REAL Redis, through the real `fulcrum ingest` command
(Feast online store on Redis, Redis idempotency claims): SIGKILL of the consumer while it
consumes, a broker restart mid-stream, Redis paused (CLIENT PAUSE), a rebalance with a second
consumer. Each scenario produces N distinct purchase events (keyed by user, some sent twice,
plus a few poison records) while the fault happens, then compares the store with the fold of
the events: every user's purchase count and every item's purchases must equal the number of
distinct events -- 0 lost, 0 doubled.

Run: ``.venv/bin/pytest tests/online/ingest/test_ingest_faults.py -s`` prints the table (fault, produced,
applied, duplicated, lost, DLQ, recovery = seconds from the end of the fault until every offset is
committed, production may still be running; and from the consumers' logs: claims found busy,
redelivered events the journal skipped, compare-and-set conflicts); ``FULCRUM_FAULTS_N`` sets N
(default 1500).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.feature_repo_copy import copy_repo, synthetic_events
from tests.fixtures.services import KafkaBroker, unique_topic, wait_until
from tests.online.ingest.test_ingest_kafka import committed_equals_end, create_topic, make_producer

pytestmark = [pytest.mark.kafka, pytest.mark.redis]

N = int(os.environ.get("FULCRUM_FAULTS_N", "1500"))
USERS, ITEMS, PARTITIONS = 40, 25, 3
POISON = [
    b'{"event_id": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b"\xffnot an event",
    b'{"event_id": "p", "x": 1}',
]
TABLE: list[dict] = []


@pytest.fixture(scope="module")
def world(tmp_path_factory, redis_url):
    """One broker of this module's own (restarted by a scenario) and one Feast repo on Redis."""
    from offline.features.pipeline import build_features
    from tests.fixtures.services import _ensure_kafka_ready

    _ensure_kafka_ready()
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka-faults"))
    broker.start()
    repo = copy_repo(tmp_path_factory.mktemp("faults-repo"))
    build_features(synthetic_events(n=40), repo, store="redis", redis_url=redis_url)
    try:
        yield broker, repo, redis_url
    finally:
        broker.stop()
        if TABLE:
            _print_table()


def _print_table() -> None:
    head = (
        "fault", "produced", "applied", "duplicated", "lost", "DLQ", "recovery s",
        "busy claims", "journal skips", "CAS conflicts",
    )  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in TABLE:
        lines.append(
            f"| {r['fault']} | {r['produced']} | {r['applied']} | {r['duplicated']} | {r['lost']} | "
            f"{r['dlq']} | {r['recovery_s']:.1f} | {r.get('claims_busy', '')} | "
            f"{r.get('redelivered_skipped', '')} | {r.get('cas_conflicts', '')} |"
        )
    print("\n" + "\n".join(lines))
    out = os.environ.get("FULCRUM_FAULTS_OUT")
    if out:
        Path(out).write_text(json.dumps(TABLE, indent=2))


def _events(tag: str) -> list[dict]:
    now = int(time.time() * 1000)
    return [
        {
            "event_id": f"{tag}-{k}",
            "type": "PURCHASE",
            "user_id": f"{tag}-u{k % USERS}",
            "item_id": f"{tag}-i{(k * 7) % ITEMS}",
            "quantity": 1,
            "price": 2.0,
            "timestamp_ms": now - 3_600_000 + k,
        }
        for k in range(N)
    ]


def _produce(bootstrap: str, topic: str, events: list[dict], seconds: float) -> threading.Thread:
    """Send the events (every 10th twice, the poison records in between) over ``seconds``."""

    def run() -> None:
        producer = make_producer(bootstrap)
        step = max(1, len(events) // 30)
        for start in range(0, len(events), step):
            for e in events[start : start + step]:
                value = json.dumps(e).encode()
                producer.send(topic, key=e["user_id"].encode(), value=value)
                if int(e["event_id"].rsplit("-", 1)[1]) % 10 == 0:
                    producer.send(topic, key=e["user_id"].encode(), value=value)  # a producer retry
            if start // step < len(POISON):
                producer.send(topic, value=POISON[start // step])
            time.sleep(seconds / 30)
        producer.flush()
        producer.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@contextmanager
def _ingest_processes():
    procs: list[subprocess.Popen] = []

    def start(bootstrap, topic, group, repo, redis_url, log: Path) -> subprocess.Popen:
        code = (
            "import logging, typer; from online.ingest.commands import ingest; "
            "logging.basicConfig(level=logging.INFO); logging.getLogger('feast').setLevel(logging.WARNING); "
            "typer.run(ingest)"
        )
        cmd = [
            sys.executable, "-c", code,
            "--bootstrap", bootstrap, "--topic", topic, "--group", group, "--feature-repo", str(repo),
            "--feature-store", "redis", "--redis-url", redis_url, "--max-batch-events", "200",
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
        proc = subprocess.Popen(cmd, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env)
        procs.append(proc)
        return proc

    try:
        yield start
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(30)


def _committed(bootstrap: str, topic: str, group: str) -> int:
    from kafka import KafkaConsumer, TopicPartition

    probe = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        return sum(probe.committed(tp) or 0 for tp in parts)
    finally:
        probe.close()


def _check(world, fault: str, tag: str, topic: str, recovery_s: float) -> dict:
    from online.features.client import OnlineFeatureClient

    broker, repo, redis_url = world
    events = _events(tag)
    client = OnlineFeatureClient.open(repo, "redis", redis_url, default_timeout_s=10.0)
    try:
        per_user = Counter(e["user_id"] for e in events)
        per_item = Counter(e["item_id"] for e in events)
        got_users = {u: client.get_user_profile(u).profile.purchase_count for u in per_user}
        stats = client.get_item_stats(sorted(per_item))
        got_items = dict(zip(sorted(per_item), stats.purchases.tolist(), strict=True))
    finally:
        client.close()
    lost = sum(max(0, n - got_users[u]) for u, n in per_user.items())
    doubled = sum(max(0, got_users[u] - n) for u, n in per_user.items())
    lost_i = sum(max(0, n - got_items[i]) for i, n in per_item.items())
    doubled_i = sum(max(0, got_items[i] - n) for i, n in per_item.items())
    from kafka import KafkaConsumer

    reader = KafkaConsumer(
        f"{topic}.dlq", bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest", group_id=None
    )
    dlq = sum(len(v) for v in reader.poll(timeout_ms=3000).values())
    reader.close()
    row = {
        "fault": fault,
        "produced": len(events),
        "applied": int(sum(got_users.values())),
        "duplicated": doubled,
        "lost": lost,
        "dlq": dlq,
        "recovery_s": recovery_s,
        "item_lost": lost_i,
        "item_duplicated": doubled_i,
    }
    TABLE.append(row)
    return row


def _scenario(world, tmp_path, fault, inject) -> None:
    broker, repo, redis_url = world
    tag = unique_topic(fault.split()[0].lower())
    topic, group = f"{tag}-events", f"{tag}-g"
    create_topic(broker.bootstrap, topic, PARTITIONS)
    events = _events(tag)
    with _ingest_processes() as start:

        def consumer():
            return start(broker.bootstrap, topic, group, repo, redis_url, tmp_path / "ingest.log")

        first = consumer()
        producing = _produce(broker.bootstrap, topic, events, seconds=20)
        recovered_at = inject(world, topic, group, first, consumer)
        producing.join(300)
        wait_until(
            lambda: committed_equals_end(broker.bootstrap, topic, group), 300, interval=1.0, what="caught up"
        )
        recovery = time.monotonic() - recovered_at
    row = _check(world, fault, tag, topic, recovery)
    log = (tmp_path / "ingest.log").read_text(errors="replace")
    # evidence of what the fault did to the consumers (online/ingest, online/features log lines)
    row["claims_busy"] = log.count("being applied by another consumer")
    row["redelivered_skipped"] = log.count("already in the store (redelivered)")
    row["cas_conflicts"] = log.count("changed by another writer since read")
    log_tail = log[-3000:]
    assert (row["lost"], row["duplicated"]) == (0, 0), (row, log_tail)
    assert (row["item_lost"], row["item_duplicated"]) == (0, 0), (row, log_tail)
    assert row["dlq"] >= len(POISON), row


def _wait_some_committed(world, topic, group, at_least: int) -> None:
    broker = world[0]
    wait_until(
        lambda: _committed(broker.bootstrap, topic, group) >= at_least, 240, interval=0.5, what="progress"
    )


def test_sigkill_mid_stream_loses_and_doubles_nothing(world, tmp_path) -> None:
    def inject(world, topic, group, first, consumer):
        _wait_some_committed(world, topic, group, N // 5)
        first.send_signal(signal.SIGKILL)  # while it reads, folds, writes or marks
        first.wait(30)
        second = consumer()
        _wait_some_committed(world, topic, group, N // 2)
        second.send_signal(signal.SIGKILL)
        second.wait(30)
        consumer()
        return time.monotonic()

    _scenario(world, tmp_path, "SIGKILL consumer x2", inject)


def test_broker_restart_mid_stream_loses_and_doubles_nothing(world, tmp_path) -> None:
    # a broker of this test's own, so a slow restart on a loaded machine cannot cascade
    broker = KafkaBroker(tmp_path / "kafka-restart")
    broker.start()

    def inject(world, topic, group, first, consumer):
        _wait_some_committed(world, topic, group, N // 5)
        broker.stop()
        time.sleep(3)
        start = ("start", "--port", str(broker.port), "--dir", str(broker.directory), "--timeout", "300")
        broker._run(*start, timeout=360)
        return time.monotonic()

    try:
        _scenario((broker, *world[1:]), tmp_path, "broker restart", inject)
    finally:
        broker.stop()


def test_redis_paused_mid_stream_loses_and_doubles_nothing(world, tmp_path) -> None:
    import redis

    def inject(world, topic, group, first, consumer):
        _wait_some_committed(world, topic, group, N // 5)
        client = redis.Redis.from_url(world[2])
        client.execute_command("CLIENT", "PAUSE", "8000", "ALL")
        time.sleep(8)
        return time.monotonic()

    _scenario(world, tmp_path, "Redis CLIENT PAUSE 8 s", inject)


def test_rebalance_with_a_second_consumer_loses_and_doubles_nothing(world, tmp_path) -> None:
    def inject(world, topic, group, first, consumer):
        _wait_some_committed(world, topic, group, N // 5)
        consumer()  # joins the group: partitions move while the first one is consuming
        _wait_some_committed(world, topic, group, N // 2)
        first.send_signal(signal.SIGTERM)  # leaves: its partitions move back
        return time.monotonic()

    _scenario(world, tmp_path, "rebalance (2nd consumer joins, 1st leaves)", inject)
