"""The ingest consumer's settings: ``ConsumerConfig`` (validated at start-up, naming the field)
and the kafka-python settings derived from it (manual commits, big fetches, quick reconnects)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from online.ingest.dlq import dlq_topic_for

DEFAULT_MAX_BATCH_EVENTS = 100_000
DEFAULT_MAX_BATCH_WAIT_MS = 200


@dataclass(frozen=True)
class ConsumerConfig:
    bootstrap: str
    topic: str = "events"
    group_id: str = "fulcrum-ingest"
    #: default: ``<topic>.dlq``
    dlq_topic: str = ""
    max_poll_records: int = 5000
    poll_timeout_ms: int = 500
    #: a batch closes at this many events ...
    max_batch_events: int = DEFAULT_MAX_BATCH_EVENTS
    #: ... or this long after its first records were polled (or when the client is caught up)
    max_batch_wait_ms: int = DEFAULT_MAX_BATCH_WAIT_MS
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 5.0
    auto_offset_reset: str = "earliest"
    client_id: str = "fulcrum-ingest"
    commit_timeout_ms: int = 10_000
    #: extra kafka-python KafkaConsumer settings
    consumer_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        host, _, port = self.bootstrap.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"bootstrap: expected HOST:PORT, got {self.bootstrap!r}")
        if not self.topic:
            raise ValueError("topic: must not be empty")
        if not self.group_id:
            raise ValueError("group_id: must not be empty")
        if self.max_poll_records < 1:
            raise ValueError(f"max_poll_records: must be >= 1, got {self.max_poll_records}")
        if self.poll_timeout_ms < 0:
            raise ValueError(f"poll_timeout_ms: must be >= 0, got {self.poll_timeout_ms}")
        if self.max_batch_events < 1:
            raise ValueError(f"max_batch_events: must be >= 1, got {self.max_batch_events}")
        if self.max_batch_wait_ms < 0:
            raise ValueError(f"max_batch_wait_ms: must be >= 0, got {self.max_batch_wait_ms}")
        if not 0 < self.backoff_initial_s <= self.backoff_max_s:
            raise ValueError("backoff_initial_s: must be > 0 and <= backoff_max_s")
        if self.auto_offset_reset not in ("earliest", "latest"):
            raise ValueError(f"auto_offset_reset: 'earliest' or 'latest', got {self.auto_offset_reset!r}")

    @property
    def dead_letter_topic(self) -> str:
        return self.dlq_topic or dlq_topic_for(self.topic)


def consumer_settings(config: ConsumerConfig) -> dict[str, Any]:
    """kafka-python settings: manual commits, big fetches, quick reconnects."""
    from online.security.kafka import kafka_security  # TLS / SASL from FULCRUM_KAFKA_* (docs/security.md)

    return {
        **kafka_security(),
        "bootstrap_servers": config.bootstrap,
        "group_id": config.group_id,
        "client_id": config.client_id,
        "enable_auto_commit": False,
        "auto_offset_reset": config.auto_offset_reset,
        "max_poll_records": config.max_poll_records,
        "fetch_max_bytes": 64 * 1024 * 1024,
        "max_partition_fetch_bytes": 16 * 1024 * 1024,
        "fetch_max_wait_ms": 100,
        "reconnect_backoff_max_ms": 1000,
        # pick up a topic created (or grown) after the group formed within seconds, not 5 minutes
        "metadata_max_age_ms": 5000,
        **config.consumer_options,
    }
