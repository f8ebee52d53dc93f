"""Coalescing in the Kafka door without a broker: a batch closes at ``max_batch_events`` events,
after ``max_batch_wait_ms``, or when the consumer is caught up; an oversized poll is applied in
slices; offsets are committed once per batch, after every slice succeeded."""

from __future__ import annotations

from collections import namedtuple

import pytest

from fulcrum.v1 import recommender_pb2 as pb
from online.ingest.consumer import ConsumerConfig, IngestConsumer
from online.ingest.decode import ENCODING_BATCH, ENCODING_HEADER
from online.ingest.dedupe import MemoryDedupe
from online.ingest.memory_sink import MemorySink
from online.ingest.pipeline import IngestPipeline
from online.ingest.sink import SinkUnavailable

TS = 1_320_969_600_000  # 2011-11-11
TP = namedtuple("TP", "topic partition")
Record = namedtuple("Record", "offset value headers")
PART = TP("events", 0)


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


def single(i: int) -> Record:
    return Record(i, ev(i).SerializeToString(), [])


def batched(offset: int, ids: range) -> Record:
    payload = pb.EventBatch(events=[ev(i) for i in ids]).SerializeToString()
    return Record(offset, payload, [(ENCODING_HEADER, ENCODING_BATCH)])


class FakeKafka:
    """A one-partition log: each poll serves at most ``chunk`` records (what one fetch buffered)
    and ``max_records``; ``seek`` moves the position back; the highwater is the log's end, like
    kafka-python's once a fetch came back."""

    def __init__(self, records: list[Record], chunk: int) -> None:
        self.records, self.chunk = records, chunk
        self.position_ = 0
        self.asked: list[tuple[int, int]] = []  # (timeout_ms, max_records) of every poll
        self.commits = 0
        self.seeks: list[tuple[TP, int]] = []

    def poll(self, timeout_ms: int, max_records: int):
        self.asked.append((timeout_ms, max_records))
        recs = self.records[self.position_ : self.position_ + min(self.chunk, max_records)]
        self.position_ += len(recs)
        return {PART: recs} if recs else {}

    def commit(self, timeout_ms: int) -> None:
        self.commits += 1

    def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))
        self.position_ = offset

    def assignment(self):
        return {PART}

    def highwater(self, tp: TP) -> int:
        return len(self.records)

    def position(self, tp: TP, timeout_ms: int | None = None) -> int:
        return self.position_

    def close(self, autocommit: bool = False) -> None:
        pass


def consumer_for(kafka: FakeKafka, sink: MemorySink, **config) -> IngestConsumer:
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
