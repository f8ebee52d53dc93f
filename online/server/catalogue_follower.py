"""Follow the Kafka events topic so items announced there become retrievable in this replica.

Every server replica keeps its own in-memory retrieval index, so each one must see every
ITEM_UPSERT: the follower reads the topic with NO consumer group (all partitions, no commits,
from the earliest offset at start-up, so upserts announced before the replica started are
replayed) and hands the upserts to the ``CatalogueSink``. Behaviour events are skipped (the
ingest consumer group applies them to the feature store). Runs in a daemon thread.

Memory stays bounded however many upserts a poll brings: the ``CatalogueSink`` embeds them
``EMBED_CHUNK`` (256) at a time and the live catalogue grows in amortised O(1) per item; a
record that does not decode is skipped (decoding never raises, online/ingest/decode.py).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from fulcrum.core.events import Event
from online.ingest.decode import decode_payload, encoding_from_headers
from online.ingest.result import Rejection

log = logging.getLogger(__name__)


class CatalogueFollower:
    def __init__(
        self, bootstrap: str, topic: str, sink: Any, consumer: Any | None = None, poll_timeout_ms: int = 200
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self._sink = sink
        self._consumer = consumer
        self._poll_timeout_ms = poll_timeout_ms
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.applied = 0

    def _open(self) -> Any:
        if self._consumer is None:
            try:
                from kafka import KafkaConsumer
            except ImportError as e:  # pragma: no cover - depends on the install
                raise ImportError("kafka-python is not installed: pip install -e '.[serve]'") from e
            from online.security.kafka import kafka_security  # TLS / SASL from FULCRUM_KAFKA_*

            self._consumer = KafkaConsumer(
                self.topic,
                **kafka_security(),
                bootstrap_servers=self.bootstrap,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                client_id="fulcrum-serve-catalogue",
                metadata_max_age_ms=5000,
                reconnect_backoff_max_ms=1000,
            )
        return self._consumer

    def poll_once(self) -> int:
        """Apply the upserts of one poll; returns how many items were upserted."""
        batches = self._open().poll(timeout_ms=self._poll_timeout_ms)
        events: list[Event] = []
        rejected: list[Rejection] = []
        now_ms = int(time.time() * 1000)
        for records in batches.values():
            for rec in records:
                decode_payload(rec.value, encoding_from_headers(rec.headers), now_ms, "", events, rejected)
        upserts = [e for e in events if e.is_item_upsert]
        if upserts:
            self._sink.apply(upserts)
            self.applied += len(upserts)
        return len(upserts)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # the broker may be down: keep following, never crash the server
                log.warning("catalogue follower: poll failed; retrying", exc_info=True)
                self._stop.wait(1.0)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="catalogue-follower", daemon=True)
        self._thread.start()
        log.info("following %s on %s for ITEM_UPSERT", self.topic, self.bootstrap)

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._consumer is not None:
            self._consumer.close()
