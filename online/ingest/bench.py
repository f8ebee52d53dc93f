"""`fulcrum bench ingest`: ingestion throughput against a real Kafka broker.

For each wire mode (``batch``: EventBatch records of --batch-size events, what `fulcrum replay`
sends; ``single``: one Event per record, what a plain producer sends) it produces M events to a
fresh topic, then consumes them through the real consumer loop and the full pipeline (decode,
validate, dedupe, apply) into the in-memory sink, and reports:

- produce events/s (kafka-python producer, acks=all),
- consume events/s: sustained, with the group already joined, from the first poll after the
  produce until all M events are applied (offsets committed after each batch),
- sink push latency p50/p99 per batch.

With ``--feature-repo R`` (an applied Feast repo) every mode runs once more into the real Feast
sink (``build_sink``, as `fulcrum ingest --feature-repo R` uses; a fresh sink per mode, SQLite or
``--feature-store redis``), on --feast-events events. The consumer coalesces polls into batches
of at most ``--max-batch-events`` events / ``--max-batch-wait-ms`` (online/ingest/consumer.py);
the table shows the events per applied batch.

Without --bootstrap it starts its own broker with deploy/kafka/kafka.sh in a temporary folder.
Event-to-visible-in-Recommend latency needs a running deployment (`fulcrum ingest --feature-repo R`
consuming --topic into the Feast store that `fulcrum serve` reads): give ``--server HOST:PORT`` and
``--bootstrap`` of that deployment (online/ingest/visibility.py); or ``--bundle DIR`` to measure
an embedded one (in-process server fed by the Kafka door; in-memory features, or the Feast repo
given with ``--feature-repo``).
"""

from __future__ import annotations

import json
import logging
import platform
import shutil
import subprocess
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from online.ingest.consumer_config import DEFAULT_MAX_BATCH_EVENTS, DEFAULT_MAX_BATCH_WAIT_MS

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
KAFKA_SH = REPO / "deploy" / "kafka" / "kafka.sh"


@contextmanager
def _own_broker():
    from fulcrum.core.ports import free_port

    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="fulcrum-bench-kafka-"))
    subprocess.run([str(KAFKA_SH), "fetch"], check=True, capture_output=True)
    subprocess.run(
        [str(KAFKA_SH), "start", "--port", str(port), "--dir", str(folder)], check=True, capture_output=True
    )
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(KAFKA_SH), "stop", "--dir", str(folder)], check=False, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def synthetic_events(n: int, seed: int = 7, users: int = 4000, items: int = 4000) -> list:
    """``n`` valid protobuf events with shop-like ids, types and times (deterministic but for a
    run tag in the event and user ids: every call is new events of new users, so a Feast run
    starts from the same empty user rows whatever ran against the repo before)."""
    import numpy as np

    from fulcrum.v1 import recommender_pb2 as pb

    rng = np.random.default_rng(seed)
    u = rng.integers(0, users, n)
    it = rng.zipf(1.3, n) % items
    ty = rng.choice(
        [pb.VIEW, pb.CLICK, pb.ADD_TO_CART, pb.PURCHASE, pb.IMPRESSION], n, p=[0.4, 0.1, 0.1, 0.1, 0.3]
    )
    q = rng.integers(1, 12, n).astype(float)
    t0 = 1_320_796_800_000  # 2011-11-09
    ts = t0 + np.sort(rng.integers(0, 30 * 86_400_000, n))
    run = uuid.uuid4().hex[:8]
    return [
        pb.Event(
            event_id=f"b{run}-{k}",
            type=int(ty[k]),  # type: ignore[arg-type]
            user_id=f"user-{run}-{u[k]}",
            item_id=f"sku-{it[k]}",
            quantity=float(q[k]),
            price=2.5,
            timestamp_ms=int(ts[k]),
            session_id=f"s-{u[k]}-{k // 50}",
        )
        for k in range(n)
    ]


def _produce(bootstrap: str, topic: str, events: list, mode: str, batch_size: int) -> tuple[float, int]:
    from kafka import KafkaProducer

    from fulcrum.v1 import recommender_pb2 as pb
    from online.ingest.decode import ENCODING_BATCH, ENCODING_HEADER
    from online.ingest.producer import producer_settings

    producer = KafkaProducer(**producer_settings(bootstrap, client_id="fulcrum-bench"))
    try:
        producer.partitions_for(topic)  # learn the topic's metadata before timing
        started = time.perf_counter()
        records = 0
        if mode == "batch":
            headers = [(ENCODING_HEADER, ENCODING_BATCH)]
            for b in range(0, len(events), batch_size):
                producer.send(
                    topic,
                    value=pb.EventBatch(events=events[b : b + batch_size]).SerializeToString(),
                    headers=headers,
                )
                records += 1
        else:
            for e in events:
                producer.send(topic, value=e.SerializeToString())
            records = len(events)
        producer.flush()
        return time.perf_counter() - started, records
    finally:
        producer.close()


class _TimedSink:
    def __init__(self, inner) -> None:
        self.inner = inner
        self.push_s: list[float] = []

    def apply(self, events) -> None:
        t = time.perf_counter()
        self.inner.apply(events)
        self.push_s.append(time.perf_counter() - t)


def _run_mode(
    bootstrap: str,
    topic: str,
    events: list,
    mode: str,
    batch_size: int,
    timeout_s: float,
    sink=None,
    label=None,
    max_batch_events: int = DEFAULT_MAX_BATCH_EVENTS,
    max_batch_wait_ms: int = DEFAULT_MAX_BATCH_WAIT_MS,
) -> dict:
    """Join the group first, then produce, then time the consumption alone."""
    from online.ingest.consumer import IngestConsumer
    from online.ingest.consumer_config import ConsumerConfig
    from online.ingest.dedupe import MemoryDedupe
    from online.ingest.memory_sink import MemorySink
    from online.ingest.pipeline import IngestPipeline
    from online.ingest.sink import FanoutSink
    from online.ingest.topics import ensure_topic

    ensure_topic(bootstrap, topic)
    counter = MemorySink(keep_events=False)  # counts what the (real) sink accepted
    timed = _TimedSink(counter if sink is None else FanoutSink([sink, counter]))
    pipeline = IngestPipeline(timed, dedupe=MemoryDedupe(), door="bench")
    consumer = IngestConsumer(
        ConsumerConfig(
            bootstrap=bootstrap,
            topic=topic,
            group_id=f"bench-{topic}",
            max_poll_records=5000,
            poll_timeout_ms=100,
            max_batch_events=max_batch_events,
            max_batch_wait_ms=max_batch_wait_ms,
        ),
        pipeline,
    )
    expected = len(events)
    try:
        joined = time.perf_counter()
        consumer.open()
        deadline = time.monotonic() + 60
        while not consumer.assigned():
            consumer.poll_once()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the consumer did not join group bench-{topic} within 60s")
        join_s = time.perf_counter() - joined
        produce_s, records = _produce(bootstrap, topic, events, mode, batch_size)
        started = time.perf_counter()
        deadline = time.monotonic() + timeout_s
        while counter.applied_count < expected and time.monotonic() < deadline:
            consumer.poll_once()
        consume_s = time.perf_counter() - started
    finally:
        consumer.close()
    if counter.applied_count < expected:
        raise RuntimeError(
            f"only {counter.applied_count} of {expected} events applied within {timeout_s:.0f}s"
        )
    pushes = sorted(timed.push_s)

    def pct(p: float) -> float:
        from fulcrum.core.percentiles import percentile

        return percentile(pushes, p * 100) * 1000

    return {
        "mode": label or mode,
        "events": expected,
        "records": records,
        "join_s": join_s,
        "produce_s": produce_s,
        "produce_events_per_s": expected / produce_s,
        "consume_s": consume_s,
        "consume_events_per_s": expected / consume_s,
        "applied": counter.applied_count,
        "batches": consumer.batches,
        "events_per_batch": counter.applied_count / max(1, consumer.batches),
        "push_ms_p50": pct(0.5),
        "push_ms_p99": pct(0.99),
    }


def bench_ingest(
    events: Annotated[int, typer.Option("--events", "-n", min=1, help="Events per mode.")] = 200_000,
    modes: Annotated[
        list[str] | None, typer.Option("--mode", help="batch and/or single (default both).")
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Events per EventBatch record.")
    ] = 500,
    bootstrap: Annotated[
        str | None, typer.Option("--bootstrap", help="Broker HOST:PORT (default: start one).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Where to write the JSON.")] = Path(
        "artifacts/bench/ingest.json"
    ),
    server: Annotated[
        str | None, typer.Option("--server", help="gRPC server for the visibility latency.")
    ] = None,
    topic_for_server: Annotated[
        str, typer.Option("--topic", help="Topic the deployment's `fulcrum ingest` consumes (with --server).")
    ] = "events",
    visibility_samples: Annotated[int, typer.Option("--samples", min=1, help="Visibility samples.")] = 50,
    bundle: Annotated[
        Path | None,
        typer.Option(
            "--bundle", help="Measure visibility on an embedded server with this bundle (no --server)."
        ),
    ] = None,
    feature_repo: Annotated[
        Path | None, typer.Option("--feature-repo", help="Also measure the Feast sink of this applied repo.")
    ] = None,
    feature_store: Annotated[str | None, typer.Option("--feature-store", help="sqlite | redis.")] = None,
    redis_url: Annotated[
        str | None,
        typer.Option(
            "--redis-url", envvar="FULCRUM_REDIS_URL", help="redis://HOST:PORT for --feature-store redis."
        ),
    ] = None,
    max_batch_events: Annotated[
        int, typer.Option("--max-batch-events", min=1, help="The consumer's batch bound in events.")
    ] = DEFAULT_MAX_BATCH_EVENTS,
    max_batch_wait_ms: Annotated[
        int, typer.Option("--max-batch-wait-ms", min=0, help="The consumer's batch bound in time.")
    ] = DEFAULT_MAX_BATCH_WAIT_MS,
    feast_events: Annotated[
        int, typer.Option("--feast-events", min=1, help="Events for the Feast run.")
    ] = 50_000,
    timeout_s: Annotated[float, typer.Option("--timeout", help="Deadline for consuming one mode.")] = 600.0,
) -> None:
    """Ingestion throughput against a real Kafka broker (and event-to-visible latency with --server)."""
    logging.getLogger("kafka").setLevel(logging.WARNING)
    from rich.console import Console
    from rich.table import Table

    from fulcrum.core.tables import print_table

    modes = modes or ["batch", "single"]
    bad = [m for m in modes if m not in ("batch", "single")]
    if bad:
        raise typer.BadParameter(f"{bad[0]!r}: allowed batch, single", param_hint="--mode")
    console = Console()
    payload = synthetic_events(events)
    bounds = (max_batch_events, max_batch_wait_ms)
    results = []
    ctx = _own_broker() if bootstrap is None else _nullcontext(bootstrap)
    with ctx as broker:
        for mode in modes:
            topic = f"bench-{mode}-{uuid.uuid4().hex[:8]}"
            console.print(f"[bold]{mode}[/]: {events:,} events through {topic} ...")
            results.append(
                _run_mode(broker, topic, payload, mode, batch_size, timeout_s, None, None, *bounds)
            )
        if feature_repo is not None:
            from fulcrum.core.feature_store import resolve_store
            from online.ingest.factory import SinkConfig, build_sink

            store_name = resolve_store(feature_store)
            n = min(events, feast_events)
            for mode in modes:
                feast_sink = build_sink(
                    SinkConfig(feature_repo=feature_repo, feature_store=store_name, redis_url=redis_url)
                )
                topic = f"bench-feast-{mode}-{uuid.uuid4().hex[:8]}"
                label = f"{mode}->{store_name}"
                console.print(f"[bold]{label}[/] ({feature_repo}): {n:,} events through {topic} ...")
                fresh_users = synthetic_events(n)
                results.append(
                    _run_mode(
                        broker, topic, fresh_users, mode, batch_size, timeout_s, feast_sink, label, *bounds
                    )
                )
        latency = None
        if server:
            from online.ingest.visibility import visibility_latency

            console.print(f"event-to-visible latency via {server}, topic {topic_for_server} ...")
            latency = visibility_latency(broker, topic_for_server, server, samples=visibility_samples)
            latency["deployment"] = server
        elif bundle is not None:
            from online.ingest.visibility import embedded_visibility

            console.print(f"event-to-visible latency, embedded server with bundle {bundle} ...")
            latency = embedded_visibility(
                broker, bundle, samples=visibility_samples, feature_repo=feature_repo
            )
    table = Table(title="fulcrum bench ingest (real broker; sink: in-memory unless named)")
    for col in (
        "mode",
        "events",
        "records",
        "produce ev/s",
        "consume ev/s",
        "vs bar",
        "ev/batch",
        "push p50 ms",
        "push p99 ms",
    ):
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(
            r["mode"],
            f"{r['events']:,}",
            f"{r['records']:,}",
            f"{r['produce_events_per_s']:,.0f}",
            f"{r['consume_events_per_s']:,.0f}",
            f"{r['consume_events_per_s'] / 20_000:.2f}x",
            f"{r['events_per_batch']:,.0f}",
            f"{r['push_ms_p50']:.2f}",
            f"{r['push_ms_p99']:.2f}",
        )
    print_table(console, table)
    console.print(
        "bar: sustained consume >= 20,000 events/s; event-to-visible latency: "
        + (
            "not measured (give --server HOST:PORT of a deployment or --bundle DIR for an embedded one)"
            if latency is None
            else f"p50 {latency['p50_ms']:.0f} ms, p99 {latency['p99_ms']:.0f} ms (bar p99 <= 1000 ms), "
            f"{latency['misses']} of {latency['samples']} not visible within {latency['timeout_s']:.0f} s "
            f"({latency['deployment']})"
        )
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "benchmark": "ingest",
                "machine": {"cpus": _cpus(), "python": platform.python_version()},
                "batch_size": batch_size,
                "max_batch_events": max_batch_events,
                "max_batch_wait_ms": max_batch_wait_ms,
                "results": results,
                "visibility_latency": latency,
                "bar_events_per_s": 20_000,
                "bar_visibility_p99_ms": 1000,
            },
            indent=2,
        )
    )
    console.print(f"wrote {out}")


@contextmanager
def _nullcontext(value: str):
    yield value


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0)
