"""``workers: N``: N server processes on one port, for the cores one Python process cannot use.

One ``grpc.aio`` server runs its handlers on one event loop under one GIL: whatever the core count,
the Python work of every call (decoding the request, the feature read, retrieval, re-ranking,
the reply) is done by one core at a time. With ``workers: N`` the parent process spawns N
workers, each a complete server (its own bundle, batchers, feature client) bound to the same
port with ``SO_REUSEPORT`` (Linux): the kernel spreads incoming CONNECTIONS over them, so a
client with one channel talks to one worker; load balancers and client pools with several
connections spread over all of them.

Each worker is a replica, exactly like N servers behind a load balancer: it reads the shared
feature store (a Feast repo is required; in-memory features would differ per process), answers
health checks for itself, and learns ITEM_UPSERT items from the events it ingests through gRPC,
or from Kafka when ``catalogue_kafka`` is set (then every worker sees every upsert: set it when
running several workers). Worker i serves /metrics on ``metrics_port + i``.

The parent forwards SIGINT/SIGTERM to the workers (each drains: health NOT_SERVING, serving
``shutdown_drain_s`` more, then the grace period) and exits with the first non-zero worker exit
code; a worker that dies on its own stops the others and the parent exits 1, naming it.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from fulcrum.core.errors import ConfigError
from online.config import ServeConfig

log = logging.getLogger(__name__)


def check_workers_config(cfg: ServeConfig) -> None:
    """The settings ``workers > 1`` needs, else ``ConfigError`` naming the field."""
    if cfg.workers <= 1:
        return
    if cfg.port == 0:
        raise ConfigError(
            f"workers={cfg.workers}: needs a fixed port (port: 0 would give each worker its own port)"
        )
    if cfg.feature_repo is None:
        raise ConfigError(
            f"workers={cfg.workers}: needs feature_repo (in-memory features are per process, the "
            "workers would disagree about every user); set feature_repo or workers: 1"
        )
    if cfg.catalogue_kafka is None:
        log.warning(
            "workers=%d without catalogue_kafka: an item upserted through IngestEvents reaches only "
            "the worker that received it (set catalogue_kafka so every worker follows the topic)",
            cfg.workers,
        )


def worker_config(cfg: ServeConfig, index: int) -> ServeConfig:
    """Worker ``index``'s config: its own metrics port (``metrics_port + index``, 0 stays off)."""
    metrics = cfg.metrics_port + index if cfg.metrics_port else 0
    return cfg.model_copy(update={"metrics_port": metrics})


def run_workers(cfg: ServeConfig, bundle: Path, target: Callable[[ServeConfig, Path, int], None]) -> int:
    """Spawn ``cfg.workers`` processes running ``target(worker config, bundle, index)``; return the
    exit code once they are all gone (after SIGINT/SIGTERM, or after one died on its own)."""
    check_workers_config(cfg)
    ctx = multiprocessing.get_context("spawn")  # no fork of a process holding threads or sockets
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    procs = []
    try:
        for i in range(cfg.workers):
            p = ctx.Process(target=target, args=(worker_config(cfg, i), bundle, i), name=f"fulcrum-serve-{i}")
            p.start()
            procs.append(p)
        log.info(
            "fulcrum serve: %d workers on port %d (pids %s)", cfg.workers, cfg.port, [p.pid for p in procs]
        )
        died = None
        while not stop.is_set() and died is None:
            died = next((p for p in procs if p.exitcode is not None), None)
            stop.wait(0.2)
        for p in procs:
            if p.exitcode is None:
                p.terminate()  # SIGTERM: the worker drains like a single server
        for p in procs:
            p.join(cfg.shutdown_drain_s + cfg.grace_s + 30.0)
            if p.exitcode is None:
                log.error("%s did not stop within the grace period: killed", p.name)
                p.kill()
                p.join()
        if died is not None:
            log.error(
                "%s exited on its own with code %s: stopped the other workers", died.name, died.exitcode
            )
            return died.exitcode or 1
        return next((p.exitcode for p in procs if p.exitcode), 0) or 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
