"""Create the ingestion topics up front (instead of relying on broker auto-creation, which makes
the first metadata requests fail noisily and the first group assignment miss the topic).

The dead-letter topic is created with ``DLQ_TOPIC_CONFIG``: a ``max.message.bytes`` that holds
the largest dead letter (online/ingest/dlq.py bounds each to ~``MAX_DEAD_LETTER_BYTES``) with
room to spare, whatever the broker's default. An existing topic is left as it is; if its limit is
below a dead letter's bound, a warning names the setting to raise.
"""

from __future__ import annotations

import logging

from online.ingest.dlq import MAX_DEAD_LETTER_BYTES

log = logging.getLogger(__name__)

#: the dead-letter topic's settings (1 MiB per record, ~10x the largest dead letter)
DLQ_TOPIC_CONFIG = {"max.message.bytes": str(1024 * 1024)}


def ensure_topic(
    bootstrap: str,
    topic: str,
    partitions: int = 1,
    replication: int = 1,
    configs: dict[str, str] | None = None,
) -> bool:
    """Create ``topic`` (with ``configs``) if it does not exist; return True when it was created."""
    from kafka import KafkaAdminClient
    from kafka.errors import TopicAlreadyExistsError

    from online.security.kafka import kafka_security  # TLS / SASL from FULCRUM_KAFKA_*

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="fulcrum-admin", **kafka_security())
    try:
        if topic in set(admin.list_topics()):
            if configs:
                _check_configs(admin, topic, configs)
            return False
        spec: dict = {"num_partitions": partitions, "replication_factor": replication}
        if configs:
            spec["configs"] = dict(configs)
        try:
            admin.create_topics({topic: spec})
        except TopicAlreadyExistsError:
            return False
        log.info("created topic %s (%d partitions%s)", topic, partitions, f", {configs}" if configs else "")
        return True
    finally:
        admin.close()


def ensure_dlq_topic(bootstrap: str, topic: str) -> bool:
    return ensure_topic(bootstrap, topic, configs=DLQ_TOPIC_CONFIG)


def topic_config(admin: object, topic: str, name: str) -> str | None:
    """One setting of ``topic`` (its value, default or not), or None when not reported."""
    from kafka.admin import ConfigResource, ConfigResourceType

    response = admin.describe_configs(  # type: ignore[attr-defined]
        [ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all"
    )
    for by_name in response.values():
        entry = (by_name.get(topic) or {}).get(name)
        if entry is not None:
            value = entry.get("value") if isinstance(entry, dict) else entry
            return None if value is None else str(value)
    return None


def _check_configs(admin: object, topic: str, wanted: dict[str, str]) -> None:
    """Warn when an existing topic's ``max.message.bytes`` cannot hold a dead letter."""
    try:
        current = topic_config(admin, topic, "max.message.bytes")
    except Exception as e:  # noqa: BLE001 - best effort: the topic works, only the check is skipped
        log.debug("could not describe %s: %s", topic, e)
        return
    if current is not None and int(current) < MAX_DEAD_LETTER_BYTES:
        log.warning(
            "topic %s has max.message.bytes=%s, below a dead letter's bound of %d: raise it to %s",
            topic,
            current,
            MAX_DEAD_LETTER_BYTES,
            wanted.get("max.message.bytes"),
        )
