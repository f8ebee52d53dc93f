"""A group rebalance never leaves the ingest consumer without partitions or spinning on a core
(online/ingest/rejoin.py describes kafka-python 3.0.12's race).

The broker test replays the race step by step with two consumers (each polled on its own thread,
as `fulcrum ingest` does, and by hand where the race needs it): the group leader starts a
rebalance because the topic grew, the rebalance completes while the leader is not inside
``poll()``, and the leader must still take up its new partitions and apply their events. Without
the guard the leader never gets a partition again and its events stall.
"""

from __future__ import annotations

import threading

import pytest

from online.ingest.consumer import IngestConsumer
from online.ingest.consumer_config import ConsumerConfig
from online.ingest.dedupe import MemoryDedupe
from online.ingest.memory_sink import MemorySink
from online.ingest.pipeline import IngestPipeline
from online.ingest.rejoin import keep_rejoin_pending
from tests.fixtures.services import unique_topic, wait_until
from tests.online.ingest.test_ingest_kafka import create_topic, event, make_consumer, make_producer


class FakeCoordinator:
    """kafka-python's flag logic: a snapshot mismatch answers True without setting the flag;
    the flag is cleared only when a finished join is applied."""

    def __init__(self) -> None:
        self.rejoin_needed = False
        self.snapshots_differ = False

    def need_rejoin(self) -> bool:
        return self.snapshots_differ or self.rejoin_needed

    def request_rejoin(self) -> None:
        self.rejoin_needed = True


class Holder:
    def __init__(self, coordinator: object) -> None:
        self._coordinator = coordinator


def test_a_rejoin_answered_once_stays_pending_until_a_join_is_applied() -> None:
    coordinator = FakeCoordinator()
    keep_rejoin_pending(Holder(coordinator))
    assert coordinator.need_rejoin() is False  # nothing changed: no rejoin, no flag set
    assert coordinator.rejoin_needed is False
    coordinator.snapshots_differ = True  # a metadata refresh: the topic grew
    assert coordinator.need_rejoin() is True
    # the join task computes the new assignment: the snapshots match again before SyncGroup
    # answers. Unguarded, need_rejoin() now says False and the finished join is never applied.
    coordinator.snapshots_differ = False
    assert coordinator.need_rejoin() is True
    coordinator.rejoin_needed = False  # kafka-python applied the finished join
    assert coordinator.need_rejoin() is False


def test_a_client_without_the_guarded_methods_is_refused_with_the_fix() -> None:
    with pytest.raises(RuntimeError, match="pinned in pyproject.toml"):
        keep_rejoin_pending(Holder(object()))


class EmptyAtOnce:
    """A client whose poll returns nothing at once (kafka-python's with its heartbeat disabled)."""

    def __init__(self) -> None:
        self.polls = 0

    def poll(self, timeout_ms: int, max_records: int) -> dict:
        self.polls += 1
        return {}

    def assignment(self) -> set:
        return set()

    def close(self, autocommit: bool) -> None:
        pass


class CountingStop(threading.Event):
    """Records every wait of the loop and stops it after the third."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        if len(self.waits) == 3:
            self.set()
        return self.is_set()


def test_an_empty_poll_that_returns_early_waits_out_its_timeout() -> None:
    client = EmptyAtOnce()
    config = ConsumerConfig(bootstrap="127.0.0.1:9", topic="t", poll_timeout_ms=60_000)
    consumer = IngestConsumer(config, IngestPipeline(MemorySink(), door="test"), consumer=client)
    consumer._stop = CountingStop()  # type: ignore[assignment]
    consumer.run()
    # three empty polls, each followed by a wait for the rest of its 60 s (not a tight loop)
    assert client.polls == 3
    assert len(consumer._stop.waits) == 3 and all(0 < w <= 60 for w in consumer._stop.waits)


class Poller:
    """Polls one consumer on its own thread, as `fulcrum ingest` does, until paused; paused, the
    test thread drives the consumer by hand."""

    def __init__(self, consumer: IngestConsumer) -> None:
        self.consumer = consumer
        self.go, self.idle, self.done = threading.Event(), threading.Event(), threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.done.is_set():
            if not self.go.is_set():
                self.idle.set()
                self.go.wait(0.05)
                continue
            self.idle.clear()
            try:
                self.consumer.poll_once()
            except BaseException as e:  # surfaced by pause()
                self.errors.append(e)
                self.go.clear()

    def pause(self) -> None:
        self.go.clear()
        wait_until(self.idle.is_set, 30, what="the poller paused")
        if self.errors:
            raise self.errors[0]

    def stop(self) -> None:
        self.done.set()
        self.go.set()
        self.thread.join(timeout=30)


@pytest.mark.kafka
def test_a_rebalance_the_leader_starts_completes_while_it_is_not_polling(kafka_bootstrap: str) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import NewPartitions
    from kafka.structs import MemberState

    topic, group = unique_topic("rejoin"), unique_topic("g")
    create_topic(kafka_bootstrap, topic, partitions=2)
    producer = make_producer(kafka_bootstrap)
    sink = MemorySink()
    options = {"session_timeout_ms": 10_000, "heartbeat_interval_ms": 500, "metadata_max_age_ms": 500}
    # the range assignor orders members by id, client id first: "ingest-a" is the group leader
    # (the first to join) and the one that watches the topic's partitions
    leader, follower = (
        make_consumer(
            kafka_bootstrap,
            topic,
            group,
            sink,
            MemoryDedupe(),
            producer,
            client_id=name,
            poll_timeout_ms=100,
            consumer_options=options,
        )
        for name in ("ingest-a", "ingest-b")
    )

    def rebalancing(consumer: IngestConsumer) -> bool:
        return consumer._consumer.group_metadata().state == MemberState.REBALANCING

    def settled() -> bool:
        return all(c.assigned() and not rebalancing(c) for c in (leader, follower))

    wait_until(lambda: leader.poll_once() >= 0 and leader.assigned(), 60, what="the leader's join")
    pollers = [Poller(leader), Poller(follower)]
    try:
        for poller in pollers:
            poller.go.set()
        wait_until(settled, 60, what="both consumers assigned")
        for poller in pollers:
            poller.pause()
        generation = follower._consumer.group_metadata().generation_id

        # 1. the topic grows: the leader's next metadata refresh sees 4 partitions, and its next
        # poll revokes its partitions and sends a JoinGroup that the broker holds for the follower
        admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        try:
            admin.create_partitions({topic: NewPartitions(4)})
        finally:
            admin.close()
        wait_until(lambda: leader.poll_once() >= 0 and rebalancing(leader), 30, what="the leader's rejoin")
        coordinator = leader._consumer._coordinator  # kafka-python 3.0.12's (pinned): no public API
        assert coordinator._join_task is not None and not coordinator._join_task.is_done

        # 2. only the follower polls: its rejoin completes the round, and the leader's IO thread
        # finishes the leader's JoinGroup + SyncGroup while the leader's own thread is elsewhere
        def follower_rejoined() -> bool:
            follower.poll_once()
            member = follower._consumer.group_metadata()
            return member.generation_id > generation and member.state == MemberState.STABLE

        wait_until(follower_rejoined, 30, interval=0, what="the follower's rejoin")
        wait_until(lambda: coordinator._join_task.is_done, 30, what="the leader's finished join")

        # 3. both poll again, each on its thread: the leader takes up partitions (the guard re-runs
        # the rebalance it started) and every event, on every partition, is applied once
        ids = list(range(40))
        for i in ids:
            producer.send(topic, value=event(i).SerializeToString(), partition=i % 4)
        producer.flush()
        for poller in pollers:
            poller.go.set()
        wait_until(lambda: sink.applied_count >= len(ids) and settled(), 60, what="every event applied")
        for poller in pollers:
            poller.pause()
        # one owner per partition (a stranded leader keeps its stale assignment, unfetched)
        owned = sorted(tp.partition for c in (leader, follower) for tp in c._consumer.assignment())
        assert owned == [0, 1, 2, 3]
        assert sink.times_applied == {f"e{i}": 1 for i in ids}
        assert leader.applied > 0 and follower.applied > 0
    finally:
        for poller in pollers:
            poller.stop()
        leader.close()
        follower.close()
        producer.close()
