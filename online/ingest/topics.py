"""Create the ingestion topics up front (instead of relying on broker auto-creation, which makes
the first metadata requests fail noisily and the first group assignment miss the topic)."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def ensure_topic(bootstrap: str, topic: str, partitions: int = 1, replication: int = 1) -> bool:
    """Create ``topic`` if it does not exist; return True when it was created."""
    from kafka import KafkaAdminClient
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="fulcrum-admin")
    try:
        if topic in set(admin.list_topics()):
            return False
        try:
            admin.create_topics({topic: {"num_partitions": partitions, "replication_factor": replication}})
        except TopicAlreadyExistsError:
            return False
        log.info("created topic %s (%d partitions)", topic, partitions)
        return True
    finally:
        admin.close()
