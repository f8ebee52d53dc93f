"""The ingest pipeline without Kafka: decode, validate, dedupe, apply, dead-letter."""

from __future__ import annotations

import pandas as pd
import pytest

from fulcrum.core import schema as S
from fulcrum.core.events import Event, event_to_json
from fulcrum.core.schema import EventType
from fulcrum.v1 import recommender_pb2 as pb
from online.ingest.backoff import Backoff
from online.ingest.consumer_config import ConsumerConfig
from online.ingest.decode import ENCODING_BATCH
from online.ingest.dedupe import MemoryDedupe
from online.ingest.dlq import dead_letter_document, original_payload
from online.ingest.memory_sink import MemorySink
from online.ingest.offline_sink import EVENTS_SUBDIR, ITEMS_SUBDIR, OfflineAppendSink
from online.ingest.pipeline import IngestPipeline, RawRecord
from online.ingest.sink import FanoutSink, SinkUnavailable

TS = 1_320_969_600_000  # 2011-11-11


def ev(i: int, **over) -> pb.Event:
    fields = dict(
        event_id=f"e{i}",
        type=pb.PURCHASE,
        user_id=f"u{i % 3}",
        item_id=f"i{i}",
        quantity=1.0,
        price=2.0,
        timestamp_ms=TS + i,
    )
    fields.update(over)
    return pb.Event(**fields)


def raw(i: int, **over) -> bytes:
    return ev(i, **over).SerializeToString()


class ListDLQ:
    def __init__(self):
        self.rejections = []

    def publish(self, rejections):
        self.rejections.extend(rejections)


def make(sink=None):
    sink = sink or MemorySink()
    dlq = ListDLQ()
    return IngestPipeline(sink, MemoryDedupe(), dlq=dlq, door="test"), sink, dlq


def test_valid_applied_once_and_bad_ones_dead_lettered_with_reasons() -> None:
    pipeline, sink, dlq = make()
    garbage = b"\xff\xff\xff\xff"
    records = [raw(0), raw(1, quantity=-4), garbage, raw(2, event_id=""), raw(3, type=0), raw(4)]
    result = pipeline.process(records)
    # 6 records: e0 and e4 valid; e1 absurd quantity; garbage undecodable; e2 without id; e3 no type
    assert result.accepted == 2 and result.duplicates == 0
    assert [e.event_id for e in sink.events] == ["e0", "e4"]
    codes = [(r.event_id, r.code) for r in result.rejected]
    assert codes == [
        ("e1", "quantity:out_of_range"),
        ("", "payload:undecodable"),
        ("", "event_id:missing"),
        ("e3", "type:unknown"),
    ]
    assert dlq.rejections == result.rejected
    assert result.rejected[1].payload == garbage  # the original bytes, untouched
    event_id, reason, payload = result.rejected[0]  # unpacks as a triple
    assert reason.startswith("quantity:") and pb.Event.FromString(payload).quantity == -4


def test_redelivered_batch_changes_nothing_twice() -> None:
    pipeline, sink, _ = make()
    batch = [raw(i) for i in range(5)]
    assert pipeline.process(batch).accepted == 5
    again = pipeline.process(batch + [raw(5)])  # a redelivery plus one new event
    assert (again.accepted, again.duplicates) == (1, 5)
    assert sink.times_applied == {f"e{i}": 1 for i in range(6)}


def test_duplicates_inside_one_batch_count_once() -> None:
    pipeline, sink, _ = make()
    result = pipeline.process([raw(1), raw(1), raw(2), raw(1)])
    assert (result.accepted, result.duplicates) == (2, 2)
    assert sink.applied_count == 2


def test_unavailable_sink_marks_nothing_and_the_retry_applies_once() -> None:
    pipeline, sink, dlq = make()
    sink.fail_next(2)
    batch = [raw(1), raw(2), b"junk-not-protobuf\xff"]
    for _ in range(2):
        with pytest.raises(SinkUnavailable):
            pipeline.process(batch)
    assert sink.applied_count == 0 and dlq.rejections == []  # nothing dead-lettered before success
    result = pipeline.process(batch)
    assert result.accepted == 2 and len(result.rejected) == 1
    assert sink.times_applied == {"e1": 1, "e2": 1} and len(dlq.rejections) == 1


def test_fanout_retry_skips_the_sinks_that_already_took_the_batch() -> None:
    first, second = MemorySink(), MemorySink()
    second.fail_next(1)
    pipeline, _, _ = make(FanoutSink([first, second]))
    batch = [raw(1), raw(2)]
    with pytest.raises(SinkUnavailable):
        pipeline.process(batch)
    assert first.applied_count == 2 and second.applied_count == 0
    assert pipeline.process(batch).accepted == 2
    assert first.times_applied == {"e1": 1, "e2": 1} and second.times_applied == {"e1": 1, "e2": 1}


def test_event_batch_records_json_records_and_parsed_messages() -> None:
    pipeline, sink, dlq = make()
    batch = pb.EventBatch(events=[ev(1), ev(2, user_id=""), ev(3)]).SerializeToString()
    good_json = event_to_json(Event("j1", EventType.VIEW, "u", "i", 0.0, 0.0, TS))
    result = pipeline.process(
        [
            RawRecord(batch, ENCODING_BATCH, "events/0/7"),
            good_json,
            b'  {"event_id": "j2", "type": "VIEW", "user_id": "u", "item_id": "i", "timestamp_ms": 5}',
            ev(4),  # a parsed message, as the gRPC door hands them over
            RawRecord(b"x", b"avro", "events/0/9"),
        ]
    )
    assert sorted(e.event_id for e in sink.events) == ["e1", "e3", "e4", "j1"]
    assert [(r.code, r.source) for r in result.rejected] == [
        ("user_id:missing", "events/0/7"),
        ("timestamp_ms:out_of_range", ""),
        ("encoding:unknown", "events/0/9"),
    ]
    # the bad event of a batch is dead-lettered alone, as its own Event bytes
    assert pb.Event.FromString(dlq.rejections[0].payload).event_id == "e2"


def test_item_upserts_flow_to_the_sink() -> None:
    pipeline, sink, _ = make()
    result = pipeline.process(
        [raw(1, type=pb.ITEM_UPSERT, user_id="", item_id="new-sku", item_text="Blue lamp")]
    )
    assert result.accepted == 1 and sink.events[0].is_item_upsert and sink.events[0].item_text == "Blue lamp"


def test_dead_letter_document_keeps_the_payload() -> None:
    pipeline, _, dlq = make()
    pipeline.process([b"\x08\xff", b'{"event_id": "x"}'])
    binary, text = (dead_letter_document(r, 0) for r in dlq.rejections)
    assert binary["payload_encoding"] == "base64" and original_payload(binary) == b"\x08\xff"
    assert text["payload_encoding"] == "utf-8" and original_payload(text) == b'{"event_id": "x"}'
    assert text["code"] == "type:missing" and text["event_id"] == "x"


def test_memory_dedupe_forgets_the_least_recent() -> None:
    d = MemoryDedupe(capacity=3)
    d.mark(["a", "b", "c"])
    d.mark(["a"])  # a is now the most recent; b is the oldest
    d.mark(["d"])  # over capacity by one: b goes
    assert d.seen(["a", "b", "c", "d"]) == [True, False, True, True]
    assert len(d) == 3


def test_offline_append_sink_writes_the_event_and_item_tables(tmp_path) -> None:
    sink = OfflineAppendSink(tmp_path)
    pipeline, _, _ = make(sink)
    pipeline.process(
        [
            raw(1),
            raw(2, type=pb.CANCEL),
            raw(3, type=pb.ITEM_UPSERT, user_id="", item_id="n1", item_text="Green vase", price=9.5),
        ]
    )
    events = pd.read_parquet(tmp_path / EVENTS_SUBDIR)
    assert list(events.columns) == list(S.EVENT_COLUMNS)
    assert events[S.EVENT_ID].tolist() == ["e1", "e2"]
    assert events[S.EVENT_TYPE].tolist() == ["PURCHASE", "CANCEL"]
    assert events[S.TIMESTAMP].iloc[0] == pd.Timestamp(TS + 1, unit="ms", tz="UTC")
    items = pd.read_parquet(tmp_path / ITEMS_SUBDIR)
    assert items.to_dict("records")[0][S.ITEM_TEXT] == "Green vase"
    assert list(items.columns) == list(S.ITEM_COLUMNS)
    assert not list(tmp_path.rglob(".*.tmp"))  # no half-written files left


def test_backoff_doubles_up_to_the_cap() -> None:
    b = Backoff(0.1, 0.5)
    assert [b.next_delay() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    b.reset()
    assert b.next_delay() == 0.1


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"bootstrap": "localhost"}, "bootstrap"),
        ({"topic": ""}, "topic"),
        ({"max_poll_records": 0}, "max_poll_records"),
        ({"auto_offset_reset": "middle"}, "auto_offset_reset"),
        ({"backoff_initial_s": 0}, "backoff_initial_s"),
    ],
)
def test_consumer_config_names_the_bad_field(over, field) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        ConsumerConfig(**{"bootstrap": "127.0.0.1:9092", **over})
    assert ConsumerConfig(bootstrap="127.0.0.1:9092", topic="t").dead_letter_topic == "t.dlq"


def test_metrics_count_consumed_applied_rejected_by_reason_and_duplicates() -> None:
    from prometheus_client import REGISTRY

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, {"door": "metrics-test", **labels}) or 0.0

    sink = MemorySink()
    pipeline = IngestPipeline(sink, MemoryDedupe(), door="metrics-test")
    before_push = value("fulcrum_ingest_push_seconds_count")
    pipeline.process([raw(1), raw(2), raw(3, quantity=-1), b"\xff\xff"])
    pipeline.process([raw(1)])
    sink.fail_next(1)
    with pytest.raises(SinkUnavailable):
        pipeline.process([raw(9)])
    # 4 + 1 + 1 records received; e1, e2 applied; e1 again a duplicate; e9 hit the unavailable sink
    assert value("fulcrum_ingest_consumed_total") == 6
    assert value("fulcrum_ingest_applied_total") == 2
    assert value("fulcrum_ingest_duplicates_total") == 1
    assert value("fulcrum_ingest_rejected_total", reason="quantity:out_of_range") == 1
    assert value("fulcrum_ingest_rejected_total", reason="payload:undecodable") == 1
    assert value("fulcrum_ingest_sink_unavailable_total") == 1
    assert value("fulcrum_ingest_push_seconds_count") - before_push == 1  # only the successful push
