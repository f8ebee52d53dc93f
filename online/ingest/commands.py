"""`fulcrum ingest` (Kafka -> pipeline -> sinks) and `fulcrum replay` (prepared data -> Kafka).

Heavy imports (kafka, pandas, feast) happen inside the command functions.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Annotated

import typer

from online.ingest.consumer_config import DEFAULT_MAX_BATCH_EVENTS, DEFAULT_MAX_BATCH_WAIT_MS

log = logging.getLogger(__name__)


def _no_broker(bootstrap: str, err: Exception, cause: str | None = None) -> typer.Exit:
    """``cause``: what ``KafkaAccessWatch.explain`` saw (authentication, TLS), if anything."""
    typer.echo(
        f"error: {cause}" if cause else
        f"error: no Kafka broker reachable at {bootstrap} ({type(err).__name__}); start one with "
        "`deploy/kafka/kafka.sh start --port PORT --dir DIR`",
        err=True,
    )
    return typer.Exit(2)


def _bootstrap_ok(value: str) -> str:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise typer.BadParameter(f"expected HOST:PORT, got {value!r}", param_hint="--bootstrap")
    return value


def ingest(
    bootstrap: Annotated[
        str, typer.Option("--bootstrap", callback=_bootstrap_ok, help="Kafka HOST:PORT.")
    ] = "127.0.0.1:9092",
    topic: Annotated[str, typer.Option("--topic", help="Topic of fulcrum.v1.Event records.")] = "events",
    group: Annotated[str, typer.Option("--group", help="Consumer group id.")] = "fulcrum-ingest",
    feature_repo: Annotated[
        Path | None, typer.Option("--feature-repo", help="Feast repo: push to its online store.")
    ] = None,
    offline_dir: Annotated[
        Path | None,
        typer.Option("--offline-dir", help="Append accepted events here as parquet (for retraining)."),
    ] = None,
    memory: Annotated[
        bool, typer.Option("--memory", help="Apply to an in-memory sink (no store; demos).")
    ] = False,
    feature_store: Annotated[
        str | None, typer.Option("--feature-store", help="sqlite | redis (Feast sink).")
    ] = None,
    bundle: Annotated[
        Path | None, typer.Option("--bundle", help="Bundle whose item encoder embeds ITEM_UPSERT texts.")
    ] = None,
    replace_bundle_vectors: Annotated[
        bool,
        typer.Option(
            "--replace-bundle-vectors",
            help="An ITEM_UPSERT of a bundle item replaces its learned vector (default: only its text).",
        ),
    ] = False,
    redis_url: Annotated[
        str | None,
        typer.Option(
            "--redis-url",
            envvar="FULCRUM_REDIS_URL",
            help="Redis for the idempotency store (and the Feast redis store); default: in-process memory.",
        ),
    ] = None,
    dlq_topic: Annotated[
        str, typer.Option("--dlq-topic", help="Dead-letter topic (default <topic>.dlq).")
    ] = "",
    max_poll_records: Annotated[
        int, typer.Option("--max-poll-records", min=1, help="Records per poll.")
    ] = 5000,
    max_batch_events: Annotated[
        int,
        typer.Option(
            "--max-batch-events", min=1, help="A batch (one store write, one commit) closes at N events."
        ),
    ] = DEFAULT_MAX_BATCH_EVENTS,
    max_batch_wait_ms: Annotated[
        int,
        typer.Option(
            "--max-batch-wait-ms", min=0, help="... or this long after its first records were polled."
        ),
    ] = DEFAULT_MAX_BATCH_WAIT_MS,
    metrics_port: Annotated[
        int, typer.Option("--metrics-port", min=0, max=65535, help="Prometheus port; 0 = off.")
    ] = 0,
    health_port: Annotated[
        int,
        typer.Option("--health-port", min=0, max=65535, help="HTTP /livez and /readyz port; 0 = off."),
    ] = 0,
    idle_exit: Annotated[
        float | None, typer.Option("--idle-exit", help="Exit after this many idle seconds.")
    ] = None,
) -> None:
    """Consume events from Kafka into the online features (at-least-once, idempotent, DLQ)."""
    logging.getLogger("kafka").setLevel(logging.WARNING)
    from online.ingest.consumer_config import ConsumerConfig
    from online.ingest.factory import SinkConfig, build_dedupe, build_kafka_ingest, build_sink

    try:
        sink_config = SinkConfig(
            feature_repo=feature_repo,
            offline_dir=offline_dir,
            memory=memory,
            feature_store=feature_store,
            redis_url=redis_url,
            bundle=bundle,
            replace_bundle_vectors=replace_bundle_vectors,
        )
        config = ConsumerConfig(
            bootstrap=bootstrap,
            topic=topic,
            group_id=group,
            dlq_topic=dlq_topic,
            max_poll_records=max_poll_records,
            max_batch_events=max_batch_events,
            max_batch_wait_ms=max_batch_wait_ms,
        )
        from online.security.kafka import kafka_security

        kafka_security()  # FULCRUM_KAFKA_*: checked before anything starts (ValueError names it)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
    try:
        sink = build_sink(sink_config)
    except (RuntimeError, ImportError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port)
        log.info("metrics on :%d/metrics", metrics_port)
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError

    from online.ingest.topics import ensure_dlq_topic, ensure_topic
    from online.security.kafka import watch_kafka_access

    with watch_kafka_access() as watch:
        try:
            ensure_topic(bootstrap, config.topic)
            ensure_dlq_topic(bootstrap, config.dead_letter_topic)
        except (KafkaTimeoutError, KafkaConnectionError) as e:
            raise _no_broker(bootstrap, e, watch.explain(bootstrap)) from e
    consumer, producer = build_kafka_ingest(config, sink, build_dedupe(redis_url))
    if health_port:
        from online.ingest.health import IngestHealth, serve_health

        serve_health(health_port, IngestHealth(consumer))
    signal.signal(signal.SIGTERM, lambda *_: consumer.stop())
    signal.signal(signal.SIGINT, lambda *_: consumer.stop())
    try:
        consumer.run(max_idle_s=idle_exit)
    finally:
        producer.close()
        close = getattr(sink, "close", None)
        if callable(close):
            close()
    typer.echo(
        f"ingest stopped: {consumer.applied} applied, {consumer.rejected} rejected (to "
        f"{config.dead_letter_topic}), {consumer.duplicates} duplicates, {consumer.batches} batches, "
        f"{consumer.retries} retries"
    )


def replay(
    data: Annotated[Path, typer.Option("--data", "--source", help="Prepared data folder.")] = Path(
        "artifacts/data"
    ),
    start: Annotated[
        str, typer.Option("--from", help="First instant to replay (UTC date or time).")
    ] = "2011-11-09",
    speed: Annotated[
        float, typer.Option("--speed", min=0.0, help="Time compression N (0 = as fast as possible).")
    ] = 0.0,
    bootstrap: Annotated[
        str, typer.Option("--bootstrap", callback=_bootstrap_ok, help="Kafka HOST:PORT.")
    ] = "127.0.0.1:9092",
    topic: Annotated[str, typer.Option("--topic")] = "events",
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Publish at most this many events.")
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Events per EventBatch record.")
    ] = 500,
    one_per_record: Annotated[
        bool, typer.Option("--one-per-record", help="One Event per record (no batching).")
    ] = False,
    announce_items: Annotated[
        bool,
        typer.Option(
            "--announce-items/--no-announce-items",
            help="Publish ITEM_UPSERT for items first seen after --from.",
        ),
    ] = True,
    partitions: Annotated[
        int, typer.Option("--partitions", min=1, help="Partitions if the topic is created.")
    ] = 1,
) -> None:
    """Publish the prepared events from --from on to Kafka, time-compressed by --speed."""
    logging.getLogger("kafka").setLevel(logging.WARNING)
    import pandas as pd
    from kafka import KafkaProducer
    from rich.progress import Progress

    from fulcrum.core import schema as S
    from online.ingest.producer import producer_settings
    from online.ingest.replay import publish, replay_frame
    from online.ingest.topics import ensure_topic

    events_path = data / S.EVENTS_FILE
    if not events_path.is_file():
        raise typer.BadParameter(
            f"{events_path} not found (run `fulcrum data prepare --out {data}`)", param_hint="--data"
        )
    try:
        pd.Timestamp(start)
    except ValueError as e:
        raise typer.BadParameter(f"{start!r} is not a date or time", param_hint="--from") from e
    events = pd.read_parquet(events_path)
    missing = [c for c in S.EVENT_COLUMNS if c not in events.columns and c != S.SPLIT]
    if missing:
        raise typer.BadParameter(f"{events_path} lacks columns {missing}", param_hint="--data")
    items = None
    if announce_items and (data / S.ITEMS_FILE).is_file():
        items = pd.read_parquet(data / S.ITEMS_FILE)
    frame = replay_frame(events, start, items=items, limit=limit)
    if frame.empty:
        typer.echo(f"nothing to replay: no event at or after {start}")
        raise typer.Exit(0)
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError

    from online.security.kafka import watch_kafka_access

    with watch_kafka_access() as watch:
        try:
            ensure_topic(bootstrap, topic, partitions)
        except (KafkaTimeoutError, KafkaConnectionError) as e:
            raise _no_broker(bootstrap, e, watch.explain(bootstrap)) from e
    producer = KafkaProducer(**producer_settings(bootstrap, client_id="fulcrum-replay"))
    try:
        with Progress() as bar:
            task = bar.add_task(f"replay -> {topic}", total=len(frame))
            stats = publish(
                producer,
                topic,
                frame,
                speed=speed,
                batch_size=batch_size,
                one_per_record=one_per_record,
                progress=lambda k: bar.advance(task, k),
            )
    finally:
        producer.close()
    span = (
        pd.Timestamp(stats.first_ts_ms, unit="ms", tz="UTC"),
        pd.Timestamp(stats.last_ts_ms, unit="ms", tz="UTC"),
    )
    typer.echo(
        f"replayed {stats.events:,} events in {stats.records:,} records in {stats.seconds:.1f}s "
        f"({stats.events_per_s:,.0f} events/s); event time {span[0]} .. {span[1]}"
    )
