"""Subscribing the ingest consumer so that a group rebalance can never leave it without partitions.

kafka-python 3.0.12 (pinned) has a race in its group coordinator that strands a consumer after a
rebalance it started itself, found by a flaky test (tests/online/ingest/test_ingest_rejoin.py
reproduces it step by step):

1. The group leader sees the subscribed topics' partitions change in a metadata refresh (its
   ``_metadata_snapshot`` differs from the ``_assignment_snapshot`` of the last assignment it
   computed). ``need_rejoin()`` answers True from that difference alone, without setting the
   ``rejoin_needed`` flag (the Java client sets it: KAFKA-9815).
2. ``poll()`` revokes the partitions and starts a JoinGroup + SyncGroup task on the IO thread; when
   ``poll()``'s timeout ends before the task, the next ``poll()`` waits for the same task.
3. The task computes the new assignment (so the two snapshots match again) before the SyncGroup
   answer arrives. If ``poll()``'s timeout ends in that window (or the consumer's thread is
   elsewhere), the next ``poll()`` asks ``need_rejoin()``, gets False, and never awaits the
   finished task: the assignment is never applied, heartbeats stay disabled, the consumer holds
   no partition for good (its group evicts it after ``session_timeout_ms``, which it never
   learns) and ``poll()`` returns at once, so the loop spins at 100 % CPU.

Fulcrum's consumer met it at start: the snapshot taken at ``subscribe()`` stays empty until the
next metadata refresh, so when the first join came first, a "metadata changed" rebalance followed
a few seconds later (in 7 of 16 joins measured); adding partitions to a topic does the same in
production. ``subscribe`` below (1) makes ``need_rejoin()`` remember what it answered True, as the
Java client does, so a started rebalance is always completed, and (2) refreshes the metadata right
after subscribing, so the first join already sees the topic's partitions and the spurious second
rebalance does not happen. The consumer loop also never polls in a tight loop
(online/ingest/consumer.py), whatever the client does.

(1) wraps one method of kafka-python's coordinator (no public hook exists); the pin in
pyproject.toml names this module, and the wrapper refuses to start on a client without the
methods it wraps rather than run unprotected.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def keep_rejoin_pending(consumer: Any) -> None:
    """Make the consumer's coordinator keep a rejoin it reported needed until a join completes
    (kafka-python clears ``rejoin_needed`` only when it applies a finished join)."""
    coordinator: Any = getattr(consumer, "_coordinator", None)
    need_rejoin = getattr(coordinator, "need_rejoin", None)
    request_rejoin = getattr(coordinator, "request_rejoin", None)
    if not callable(need_rejoin) or not callable(request_rejoin):
        import kafka

        raise RuntimeError(
            f"kafka-python {getattr(kafka, '__version__', '?')} has no coordinator need_rejoin/"
            "request_rejoin to guard its rebalance race (online/ingest/rejoin.py): install the "
            "version pinned in pyproject.toml"
        )

    def need_rejoin_sticky() -> bool:
        if need_rejoin():
            request_rejoin()  # stays set until the join that answers it has been applied
            return True
        return False

    coordinator.need_rejoin = need_rejoin_sticky


def subscribe(consumer: Any, topic: str, listener: Any) -> None:
    """``consumer.subscribe([topic])`` with the rebalance race guarded and the topic's partitions
    known before the first join (best effort: a topic created later is found by the periodic
    metadata refresh, and the rebalance that follows is safe)."""
    keep_rejoin_pending(consumer)
    consumer.subscribe([topic], listener=listener)
    try:
        # a metadata refresh now, so the coordinator's snapshot includes the subscribed topic
        consumer.topics()
    except Exception as e:  # noqa: BLE001 - best effort: the periodic refresh catches up
        log.debug("no metadata yet for %s: %s", topic, e)
