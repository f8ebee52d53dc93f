"""`fulcrum serve --bundle DIR --config FILE`: run the gRPC server until SIGINT/SIGTERM.

Features: with ``feature_repo`` set (config or ``FULCRUM_FEATURE_REPO``) profiles are read from
that Feast repo and ingested events are pushed to it (``FeastEventSink``, new items embedded with
the bundle's item encoder); without it, an in-memory store (embedded demo) both serves and
receives events. Heavy imports happen inside the function so `fulcrum --help` stays fast.
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from fulcrum.core import environment

log = logging.getLogger(__name__)


def _with_offline_store(cfg, sink):
    """Also append accepted events to the offline store when ``offline_dir`` is set, so events
    ingested through gRPC reach the next retraining just like those from Kafka."""
    if cfg.offline_dir is None:
        return sink
    from online.ingest.offline_sink import OfflineAppendSink
    from online.ingest.sink import FanoutSink

    return FanoutSink([sink, OfflineAppendSink(cfg.offline_dir)])


def _feature_side(cfg):
    from online.privacy.tombstones import forget_aware  # IngestEvents drops forgotten users' events
    from online.server.feature_source import FeastFeatureSource, InMemoryFeatures

    if cfg.feature_repo is None:
        features = InMemoryFeatures()
        events = forget_aware(_with_offline_store(cfg, features), offline_dir=cfg.offline_dir, door="grpc")
        return features, events, None
    from online.features.sink import FeastEventSink

    source = FeastFeatureSource.from_repo(
        str(cfg.feature_repo), cfg.feature_timeout_ms / 1000.0, user_cache_entries=cfg.user_row_cache
    )
    # several replicas write the same users and items through IngestEvents: cache no rows
    sink = FeastEventSink(source.client.store, cache_size=0)
    events = forget_aware(_with_offline_store(cfg, sink), offline_dir=cfg.offline_dir,
                          feature_repo=cfg.feature_repo, feature_store=source.client.store, door="grpc")
    return source, events, sink


def _shared_dedupe():
    """With the Redis online store, IngestEvents claims and marks event ids in the same Redis keys
    as `fulcrum ingest` (``FULCRUM_REDIS_URL``), so an event sent through both doors, or retried
    against another replica, is applied once; otherwise ids are remembered per process."""

    from fulcrum.core.feature_store import DEFAULT_REDIS_URL, ENV_REDIS_URL, resolve_store
    from online.ingest.factory import build_dedupe

    if resolve_store(None) != "redis":
        return None
    return build_dedupe(environment.get(ENV_REDIS_URL) or DEFAULT_REDIS_URL)


def _log_request_ids() -> None:
    """Every log line of the server carries the request id (from the contextvar)."""
    from online.server.request_id import RequestIdFilter

    for handler in logging.getLogger().handlers:
        handler.addFilter(RequestIdFilter())
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s")
        )


async def _run(cfg, bundle: Path, worker: int | None = None) -> None:
    """One server process until SIGINT/SIGTERM (``worker``: its index among ``workers``)."""
    import asyncio
    import signal

    from fulcrum.core.errors import ConfigError
    from online.server.app import create_server
    from online.server.metrics import start_metrics_http
    from online.server.process_tuning import freeze_heap

    features, sink, feast_sink = _feature_side(cfg)
    server, bound = await create_server(cfg, bundle, features, sink, dedupe=_shared_dedupe())
    if feast_sink is not None:
        keep = None if cfg.upsert_replaces_bundle_vectors else server.learned_vectors
        feast_sink.set_item_embedder(server.embed_items, keep)
    try:
        start_metrics_http(cfg.metrics_port)
    except OSError as e:
        await server.stop(0)
        raise ConfigError(f"metrics_port={cfg.metrics_port}: cannot listen ({e})") from e
    freeze_heap()  # the bundle's objects never walked by a full collection again
    await server.start()
    who = "fulcrum serve" if worker is None else f"fulcrum serve worker {worker}"
    typer.echo(
        f"{who}: bundle {server.holder.current.version} on port {bound} "
        f"({server.holder.current.bundle.provider}); metrics port {cfg.metrics_port or 'off'}"
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    typer.echo(
        f"{who}: shutting down (health NOT_SERVING, serving {cfg.shutdown_drain_s:g} s more, "
        f"then in-flight calls get {cfg.grace_s:g} s)"
    )
    await server.drain(cfg.shutdown_drain_s)
    await server.stop()


def _loop_factory(kind: str):
    """The event loop ``event_loop`` names: asyncio's own (None) or uvloop's (optional extra)."""
    if kind != "uvloop":
        return None
    from fulcrum.core.errors import ConfigError

    try:
        import uvloop
    except ImportError as e:
        raise ConfigError("event_loop=uvloop: uvloop is not installed (pip install 'fulcrum[uvloop]')") from e
    return uvloop.new_event_loop


def _serve_process(cfg, bundle: Path, worker: int | None = None) -> int:
    """Run one server process; the exit code (2 with one line naming the cause on a known error)."""
    import asyncio

    from fulcrum.core.errors import BundleInvalid, ConfigError, NotFound, Unavailable

    if worker is not None:  # a spawned worker: logging as the CLI's entry point sets it up

        level = getattr(logging, (environment.get("FULCRUM_LOG_LEVEL") or "INFO").upper(), logging.INFO)
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        _log_request_ids()
    from online.server.process_tuning import limit_blas_threads, set_gil_switch_interval

    limit_blas_threads()  # requests run in parallel, not one matrix-vector product
    set_gil_switch_interval(cfg.gil_switch_interval_ms)  # how long the loop may wait for the GIL
    try:
        with asyncio.Runner(loop_factory=_loop_factory(cfg.event_loop)) as runner:
            runner.run(_run(cfg, bundle, worker))
    except (BundleInvalid, NotFound) as e:
        typer.echo(f"error: bundle {bundle}: {e}", err=True)
        return 2
    except (ConfigError, Unavailable, OSError) as e:
        typer.echo(f"error: {e}", err=True)
        return 2
    return 0


def _worker_main(cfg, bundle: Path, worker: int) -> None:
    raise SystemExit(_serve_process(cfg, bundle, worker))


def serve(
    bundle: Path = typer.Option(..., "--bundle", help="Bundle folder (manifest.json + ONNX files)."),  # noqa: B008
    config: Path | None = typer.Option(None, "--config", help="YAML config; FULCRUM_* env vars override it."),  # noqa: B008
    port: int | None = typer.Option(None, "--port", help="Override the config's port (0 = any free port)."),
) -> None:
    """Serve Recommend, Search, IngestEvents, GetModelInfo, ReloadModel and ForgetUser over gRPC
    (TLS, tokens and roles: docs/security.md; plaintext only with security.allow_plaintext)."""
    from fulcrum.core.errors import ConfigError
    from online.config import load_config

    try:
        cfg = load_config(config)
    except ConfigError as e:
        raise typer.BadParameter(str(e), param_hint="--config") from e
    if port is not None:
        cfg = cfg.model_copy(update={"port": port})

    if cfg.workers > 1:
        from online.server.workers import run_workers

        try:
            code = run_workers(cfg, bundle, _worker_main)  # checks the settings before spawning
        except ConfigError as e:
            raise typer.BadParameter(str(e), param_hint="--config") from e
        raise typer.Exit(code)
    _log_request_ids()
    code = _serve_process(cfg, bundle)
    if code:
        raise typer.Exit(code)
