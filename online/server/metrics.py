"""Prometheus metrics of the server (process-wide, registered once)."""

from __future__ import annotations

import logging

from prometheus_client import Counter, Histogram

log = logging.getLogger(__name__)

LATENCY = Histogram(
    "fulcrum_rpc_latency_seconds",
    "gRPC handler latency by method and status code",
    ["method", "code"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
)
FALLBACKS = Counter(
    "fulcrum_fallbacks_total", "Replies degraded to the popularity fallback", ["method", "reason"]
)
BATCH_SIZE = Histogram(
    "fulcrum_batch_size",
    "Requests per ONNX Runtime call",
    ["model"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
UPSERTED = Counter("fulcrum_items_upserted_total", "Items added to the live catalogue")
UPSERTS_REFUSED = Counter(
    "fulcrum_catalogue_upserts_refused_total",
    "New items not added to the live catalogue: max_upserted_items reached",
)
RELOADS = Counter("fulcrum_bundle_reloads_total", "Bundle reloads by outcome", ["outcome"])
FORGOTTEN = Counter("fulcrum_users_forgotten_total", "Users erased through ForgetUser")


def observe_batch(model: str, size: int) -> None:
    BATCH_SIZE.labels(model).observe(size)


def start_metrics_http(port: int, addr: str = "0.0.0.0"):
    """Serve /metrics on ``port`` (0 disables it); returns the HTTP server (``shutdown()`` stops it)."""
    if port == 0:
        return None
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr=addr)
    log.info("Prometheus metrics on http port %d", port)
    return server
