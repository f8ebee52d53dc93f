"""kafka-python producer settings shared by every Fulcrum producer (replay, DLQ, benchmarks)."""

from __future__ import annotations

from typing import Any


def producer_settings(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    """kafka-python settings for producers that must not lose anything across a broker restart."""
    from online.security.kafka import kafka_security  # TLS / SASL from FULCRUM_KAFKA_* (docs/security.md)

    return {
        **kafka_security(),
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "linger_ms": 5,
        "batch_size": 1024 * 1024,
        "max_request_size": 8 * 1024 * 1024,
        "reconnect_backoff_max_ms": 1000,
        "delivery_timeout_ms": 300_000,
        "retries": 2**31 - 1,
        **overrides,
    }
