"""The consumer's rebalance listener: tells the ingest loop which partitions it is giving up.

kafka-python 3.x calls a listener on its IO thread (``kafka-io-<client_id>``) while the consumer's
own thread is blocked inside ``poll()`` (or ``close()``): ``on_partitions_revoked`` before the
group rebalances and when the consumer closes, ``on_partitions_lost`` when the member was evicted,
``on_partitions_assigned`` once the new assignment is in place. The listener only hands the
partitions over (``on_revoked``, thread-safe); the gathering loop acts on them when ``poll()``
returns. See online/ingest/consumer.py for why nothing is applied or committed inside the
callback.

kafka-python is imported at module level here: this module is imported only where a real
``KafkaConsumer`` is built.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from kafka import ConsumerRebalanceListener

log = logging.getLogger(__name__)


class RevokeListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Forwards revoked and lost partitions to ``on_revoked``; must return promptly (it runs on
    the loop that also sends the heartbeats)."""

    def __init__(
        self,
        on_revoked: Callable[[Iterable[Any]], None],
        on_assigned: Callable[[Iterable[Any]], None] | None = None,
    ) -> None:
        self._on_revoked = on_revoked
        self._on_assigned = on_assigned

    def on_partitions_revoked(self, revoked: Iterable[Any]) -> None:
        self._on_revoked(revoked)

    def on_partitions_lost(self, lost: Iterable[Any]) -> None:
        log.warning("partitions %s lost (evicted from the group); their new owner resumes them", lost)
        self._on_revoked(lost)

    def on_partitions_assigned(self, assigned: Iterable[Any]) -> None:
        assigned = list(assigned)
        log.info("assigned partitions %s", sorted(f"{tp.topic}/{tp.partition}" for tp in assigned))
        if self._on_assigned is not None:
            self._on_assigned(assigned)
