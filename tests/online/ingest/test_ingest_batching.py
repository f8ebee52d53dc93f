"""Coalescing in the Kafka door without a broker: a batch closes at ``max_batch_events`` events,
after ``max_batch_wait_ms``, when the consumer is caught up, or when a rebalance revokes partitions
(their records leave the batch); an oversized poll is applied in slices; offsets are committed
once per batch, after every slice succeeded, only for partitions still owned."""

from __future__ import annotations

from collections import namedtuple

import pytest

from fulcrum.v1 import recommender_pb2 as pb
from online.ingest.consumer import IngestConsumer
from online.ingest.consumer_config import ConsumerConfig
from online.ingest.decode import ENCODING_BATCH, ENCODING_HEADER
from online.ingest.dedupe import MemoryDedupe
from online.ingest.memory_sink import MemorySink
from online.ingest.pipeline import IngestPipeline
from online.ingest.sink import SinkUnavailable

TS = 1_320_969_600_000  # 2011-11-11
TP = namedtuple("TP", "topic partition")
Record = namedtuple("Record", "offset value headers")
PART = TP("events", 0)
P0, P1 = PART, TP("events", 1)


def ev(i: int) -> pb.Event:
    return pb.Event(
        event_id=f"e{i}",
        type=pb.PURCHASE,
        user_id="u",
        item_id=f"i{i}",
        quantity=1,
        price=1,
        timestamp_ms=TS + i,
    )


def single(i: int, offset: int | None = None) -> Record:
    return Record(i if offset is None else offset, ev(i).SerializeToString(), [])


def log_of(ids: range) -> list[Record]:
    """Single-event records e<id> at offsets 0, 1, 2 ..."""
    return [single(i, offset) for offset, i in enumerate(ids)]


def batched(offset: int, ids: range) -> Record:
    payload = pb.EventBatch(events=[ev(i) for i in ids]).SerializeToString()
    return Record(offset, payload, [(ENCODING_HEADER, ENCODING_BATCH)])


class FakeKafka:
    """A log per partition: each poll serves at most ``chunk`` records of each partition (what one
    fetch buffered) and ``max_records`` in all; ``seek`` moves a position back (ValueError for a
    partition not assigned, as in kafka-python 3); the highwater is the log's end, like
    kafka-python's once a fetch came back. ``during_poll[k]`` runs inside the k-th poll (0-based)
    before it fetches, as a group rebalance does."""

    def __init__(self, records: list[Record] | dict[TP, list[Record]], chunk: int) -> None:
        self.logs = records if isinstance(records, dict) else {PART: records}
        self.chunk = chunk
        self.assigned = set(self.logs)
        self.positions = dict.fromkeys(self.logs, 0)
        self.asked: list[tuple[int, int]] = []  # (timeout_ms, max_records) of every poll
        self.commits = 0
        self.committed: list[dict[TP, int]] = []  # the offsets of every commit
        self.seeks: list[tuple[TP, int]] = []
        self.during_poll: dict[int, object] = {}

    def poll(self, timeout_ms: int, max_records: int):
        hook = self.during_poll.get(len(self.asked))
        self.asked.append((timeout_ms, max_records))
        if hook is not None:
            hook()
        left = max_records
        out = {}
        for tp in sorted(self.assigned):
            recs = self.logs[tp][self.positions[tp] : self.positions[tp] + min(self.chunk, left)]
            if recs:
                out[tp] = recs
                self.positions[tp] += len(recs)
                left -= len(recs)
        return out

    def commit(self, offsets, timeout_ms: int) -> None:
        self.commits += 1
        self.committed.append({tp: o.offset for tp, o in offsets.items()})

    def seek(self, tp: TP, offset: int) -> None:
        if tp not in self.assigned:
            raise ValueError("Unassigned partition")
        self.seeks.append((tp, offset))
        self.positions[tp] = offset

    def assignment(self):
        return set(self.assigned)

    def highwater(self, tp: TP) -> int:
        return len(self.logs[tp])

    def position(self, tp: TP, timeout_ms: int | None = None) -> int:
        return self.positions[tp]

    def close(self, autocommit: bool = False) -> None:
        pass


def consumer_for(kafka, sink: MemorySink, **config) -> IngestConsumer:
    settings = {"max_batch_events": 5, "max_batch_wait_ms": 60_000, "poll_timeout_ms": 100, **config}
    pipeline = IngestPipeline(sink, MemoryDedupe(), door="test")
    return IngestConsumer(ConsumerConfig(bootstrap="127.0.0.1:9092", **settings), pipeline, consumer=kafka)


def test_polls_coalesce_up_to_the_event_bound_and_commit_once_per_batch() -> None:
    # 12 single-event records, 3 buffered per poll, bound 5 events: batches of 5, 5 and 2
    kafka = FakeKafka([single(i) for i in range(12)], chunk=3)
    sink = MemorySink()
    consumer = consumer_for(kafka, sink)
    assert [consumer.poll_once() for _ in range(4)] == [5, 5, 2, 0]
    assert sink.apply_calls == 3 and sink.times_applied == {f"e{i}": 1 for i in range(12)}
    assert kafka.commits == 3 and consumer.batches == 3
    # each poll asks for at most the room left at one event per record: 5, then 2 after 3 events
    assert [m for _, m in kafka.asked[:3]] == [5, 2, 5]
    # the first poll of a batch waits poll_timeout_ms; the next one, with records still on the
    # broker, waits at most what is left of max_batch_wait_ms (60 s here)
    assert kafka.asked[0][0] == 100 and 100 < kafka.asked[1][0] <= 60_000


def test_a_batch_closes_when_the_client_is_caught_up() -> None:
    kafka = FakeKafka([single(0), single(1)], chunk=10)
    sink = MemorySink()
    consumer = consumer_for(kafka, sink, max_batch_events=1000)
    assert consumer.poll_once() == 2  # caught up (position == highwater): no waiting for more
    assert kafka.asked == [(100, 1000)]
    assert sink.applied_count == 2 and kafka.commits == 1


def test_the_time_bound_closes_a_batch_that_keeps_receiving() -> None:
    # max_batch_wait_ms=0: the deadline has passed as soon as the first records are in
    kafka = FakeKafka([single(i) for i in range(3)], chunk=1)
    sink = MemorySink()
    consumer = consumer_for(kafka, sink, max_batch_events=1000, max_batch_wait_ms=0)
    assert [consumer.poll_once() for _ in range(3)] == [1, 1, 1]
    assert sink.apply_calls == 3 and kafka.commits == 3


def test_an_oversized_poll_is_applied_in_slices_and_sizes_the_next_poll() -> None:
    # 3 EventBatch records of 6 events, 2 buffered per poll, bound 5: the first poll brings 12
    # events, applied as slices of 5, 5 and 2, committed once
    kafka = FakeKafka([batched(k, range(6 * k, 6 * k + 6)) for k in range(3)], chunk=2)
    sink = MemorySink()
    consumer = consumer_for(kafka, sink)
    assert consumer.poll_once() == 2
    assert sink.apply_calls == 3 and sink.applied_count == 12 and kafka.commits == 1
    # 6 events per record seen: the next poll asks for max(1, int(5 / 6)) = 1 record
    assert consumer.poll_once() == 1
    assert kafka.asked[-1] == (100, 1) and sink.applied_count == 18


def test_an_unavailable_sink_seeks_back_commits_nothing_and_the_retry_applies_once() -> None:
    kafka = FakeKafka([single(i) for i in range(4)], chunk=4)
    sink = MemorySink()
    consumer = consumer_for(kafka, sink, max_batch_events=10, backoff_initial_s=0.01)
    sink.fail_next(1)
    assert consumer.poll_once() == 0
    assert kafka.commits == 0 and kafka.seeks == [(PART, 0)] and consumer.retries == 1
    assert consumer.poll_once() == 4
    assert kafka.commits == 1 and sink.times_applied == {f"e{i}": 1 for i in range(4)}


def test_pipeline_slices_mark_each_slice_and_dead_letter_after_all() -> None:
    sink = MemorySink()
    letters: list = []

    class DLQ:
        def publish(self, rejections) -> None:
            letters.extend(rejections)

    pipeline = IngestPipeline(sink, MemoryDedupe(), dlq=DLQ(), door="test")
    events, rejected, _ = pipeline.decode([ev(i).SerializeToString() for i in range(5)] + [b"\xff\xff"])
    calls: list[int] = []
    real = sink.apply

    def second_fails_once(batch) -> None:
        calls.append(len(batch))
        if len(calls) == 2:
            raise SinkUnavailable("down for the second slice")
        real(batch)

    sink.apply = second_fails_once  # type: ignore[method-assign]
    with pytest.raises(SinkUnavailable):
        pipeline.apply(events, rejected, max_batch=2)
    # slice 1 (e0, e1) is applied and marked seen; nothing dead-lettered yet
    assert sink.times_applied == {"e0": 1, "e1": 1} and letters == []
    result = pipeline.apply(events, rejected, max_batch=2)
    # the retry starts again at slice 2 (e2, e3), then e4; e0, e1 are duplicates now
    assert calls == [2, 2, 2, 1]
    assert (result.accepted, result.duplicates, len(result.rejected)) == (3, 2, 1)
    assert sink.times_applied == {f"e{i}": 1 for i in range(5)} and len(letters) == 1
    with pytest.raises(ValueError, match="max_batch"):
        pipeline.apply(events, rejected, max_batch=0)


def test_a_partition_revoked_while_gathering_is_left_to_its_new_owner_and_applied_once() -> None:
    # two partitions, 2 records of each per poll; the group moves P1 to another consumer during
    # the second poll (kafka-python calls the listener inside poll(), before fetching)
    logs = {P0: log_of(range(0, 6)), P1: log_of(range(100, 106))}
    kafka = FakeKafka(logs, chunk=2)
    sink = MemorySink()
    consumer = consumer_for(kafka, sink, max_batch_events=100)

    def move_p1() -> None:
        kafka.assigned.discard(P1)
        consumer.partitions_revoked({P1})

    kafka.during_poll[1] = move_p1
    # poll 0: e0 e1 (P0) + e100 e101 (P1); poll 1: e2 e3 (P0), and the revoke closes the batch
    # at once although the broker holds more and 60 s of max_batch_wait_ms are left
    assert consumer.poll_once() == 4
    assert len(kafka.asked) == 2 and consumer.dropped_on_revoke == 2
    assert sink.times_applied == {"e0": 1, "e1": 1, "e2": 1, "e3": 1}  # not e100, e101
    assert kafka.committed == [{P0: 4}]  # nothing for P1, which this consumer no longer owns
    assert kafka.seeks == []  # P1 cannot be sought any more; its new owner resumes it

    # the new owner (another process: its own dedupe, the same online store) starts P1 at its
    # committed offset, 0, so e100 and e101 are applied there, once
    other_kafka = FakeKafka({P1: logs[P1]}, chunk=2)
    other = consumer_for(other_kafka, sink, max_batch_events=100)
    assert other.poll_once() == 6 and other_kafka.committed == [{P1: 6}]
    assert consumer.poll_once() == 2 and kafka.committed[-1] == {P0: 6}
    assert sink.times_applied == {f"e{i}": 1 for i in [*range(0, 6), *range(100, 106)]}


def test_partitions_revoked_and_given_back_are_polled_again_from_the_batch_start() -> None:
    # an eager rebalance revokes every partition and the group hands both back to this consumer;
    # kafka-python keeps the fetch position of a partition it keeps, so the records already in the
    # batch would be skipped by the next commit unless the consumer rewinds to the batch start
    logs = {P0: log_of(range(0, 4)), P1: log_of(range(100, 104))}
    kafka = FakeKafka(logs, chunk=1)
    sink = MemorySink()
    consumer = consumer_for(kafka, sink, max_batch_events=100)
    kafka.during_poll[1] = lambda: consumer.partitions_revoked({P0, P1})
    # poll 0: e0, e100; poll 1 (the rebalance, positions kept): e1, e101; all four dropped
    assert consumer.poll_once() == 0
    assert consumer.dropped_on_revoke == 4 and sink.apply_calls == 0 and kafka.commits == 0
    assert set(kafka.seeks) == {(P0, 0), (P1, 0)}
    polled = 0
    for _ in range(5):
        polled += consumer.poll_once()
    assert polled == 8 and kafka.committed[-1] == {P0: 4, P1: 4}
    assert sink.times_applied == {f"e{i}": 1 for i in [*range(0, 4), *range(100, 104)]}


def test_a_partition_lost_during_apply_is_not_committed() -> None:
    # the member is evicted while the sink writes (heartbeat thread): the commit names only the
    # partitions still assigned, never a position of one given up
    kafka = FakeKafka({P0: log_of(range(0, 2)), P1: log_of(range(100, 102))}, chunk=2)
    sink = MemorySink()
    consumer = consumer_for(kafka, sink, max_batch_events=100)
    real = sink.apply

    def evicting_apply(batch) -> None:
        real(batch)
        kafka.assigned.discard(P1)

    sink.apply = evicting_apply  # type: ignore[method-assign]
    assert consumer.poll_once() == 4
    assert kafka.committed == [{P0: 2}]


def test_the_rebalance_listener_forwards_revoked_and_lost_partitions() -> None:
    from kafka import ConsumerRebalanceListener

    from online.ingest.rebalance import RevokeListener

    got: list = []
    listener = RevokeListener(lambda partitions: got.append(set(partitions)))
    assert isinstance(listener, ConsumerRebalanceListener)  # KafkaConsumer.subscribe checks it
    listener.on_partitions_revoked({P0})
    listener.on_partitions_lost({P1})
    listener.on_partitions_assigned({P0, P1})
    assert got == [{P0}, {P1}]
