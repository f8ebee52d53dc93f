"""The Kafka door: a consumer-group loop feeding the ingest pipeline, at least once.

One iteration gathers a batch, applies it and commits:

- **gather**: poll (waiting up to ``poll_timeout_ms`` for the first records), decode, and keep
  polling while the broker holds more (a partition's position is below its last known
  highwater, from the fetch responses) until the batch holds ``max_batch_events`` events or
  ``max_batch_wait_ms`` passed since its first records. Caught up, the batch closes at once. So
  the batch is bounded by count AND time: at a trickle a batch is what arrived (no added wait),
  with a backlog it grows to the bound, and the Feast sink writes each touched user and item once
  for many events. Each poll asks for at most ``max_poll_records`` records, fewer when the events
  per record seen so far (EventBatch records carry many) say the bound is near;
- **apply**: ``pipeline.apply(events, rejected, max_batch=max_batch_events)`` (dedupe, the sinks,
  then the DLQ); a single poll of EventBatch records may overshoot the bound, and is then applied
  in slices of at most ``max_batch_events``, each visible as soon as it is written;
- **commit** the consumed offsets, only after the sinks and the DLQ succeeded
  (``enable_auto_commit=False``).

When a sink (or Redis, or the DLQ) is unavailable, the consumer seeks every partition of the batch
back to the batch's first offset, backs off (exponential, capped) and polls the same records
again: nothing is committed, nothing is lost, and the lag gauge grows. Stopping (``stop()``,
SIGTERM in ``fulcrum ingest``) finishes the batch in hand, commits, and closes.

**Rebalances.** A group rebalance (a member joins or leaves) happens inside ``poll()``, so it can
fall mid-gathering, with the batch holding records of a partition about to move. Applying them
while the new owner restarts from the committed offset would apply them twice across consumers
(a per-process dedupe cannot see it; folds such as purchase counts double). So the consumer
subscribes with a listener (online/ingest/rebalance.py) that records revoked (or lost)
partitions, and when the poll returns the loop (1) takes every record of those partitions out of
the open batch, that poll's too, and seeks each back to its first offset in the batch: a
partition handed back to this consumer keeps its fetch position in kafka-python, so without the
seek the next commit would skip the dropped records; one that moved cannot be sought and its new
owner starts at the committed offset, where the dropped records start; (2) closes the batch at
once and applies + commits the rest. The commit names offsets explicitly (after the last applied
record of each partition in the batch) and only for partitions still assigned: never a
commit-every-position that could carry a partition given up.

Why not apply and commit the revoked records inside ``on_partitions_revoked``, as Kafka
documents? kafka-python 3 runs the listener on its IO thread, where a blocking ``commit()``
raises; applying there blocks the loop that sends heartbeats with Feast/Redis/DLQ writes; and a
sink that is down could not be retried for a partition being given up. Dropping costs one batch
fetched again (the eager default assignors revoke every partition, so a rebalance always discards
the batch in hand). What remains is the at-least-once window: a member evicted while applying
(over ``max_poll_interval_ms``) cannot commit, and its batch is applied again by the new owner
unless the idempotency keys are shared (Redis, docs/scaling.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from online.ingest import metrics
from online.ingest.backoff import Backoff
from online.ingest.batch import GatheredBatch
from online.ingest.consumer_config import ConsumerConfig, consumer_settings
from online.ingest.decode import encoding_from_headers
from online.ingest.pipeline import IngestPipeline, RawRecord
from online.ingest.sink import SinkUnavailable

log = logging.getLogger(__name__)

class IngestConsumer:
    def __init__(self, config: ConsumerConfig, pipeline: IngestPipeline, consumer: Any | None = None) -> None:
        self.config = config
        self.pipeline = pipeline
        self._consumer: Any = consumer
        self._stop = threading.Event()
        self._backoff = Backoff(config.backoff_initial_s, config.backoff_max_s)
        self._last_lag_update = 0.0
        self.lag = 0
        self.batches = 0
        self.retries = 0
        self.applied = 0
        self.rejected = 0
        self.duplicates = 0
        #: records taken out of open batches because their partition was revoked mid-gathering
        self.dropped_on_revoke = 0
        #: events per record of the last poll (EventBatch records carry many): sizes the next poll
        self._events_per_record = 1.0
        #: partitions the rebalance listener reported revoked, not yet handled by the loop
        self._revoked: set[Any] = set()
        self._revoked_lock = threading.Lock()
        self._invalidate = False
        #: progress stamps for the health probes (online/ingest/health.py), time.monotonic()
        self.last_iteration = time.monotonic()
        self.last_commit = time.monotonic()
        #: an assignment arrived (possibly empty: a hot spare beyond the partition count)
        self.joined = False

    # ---- lifecycle -----------------------------------------------------------------------------
    def open(self) -> None:
        if self._consumer is not None:
            return
        try:
            from kafka import KafkaConsumer

            from online.ingest.rebalance import RevokeListener
            from online.ingest.rejoin import subscribe
        except ImportError as e:  # pragma: no cover
            raise ImportError("Kafka ingestion needs kafka-python: pip install -e '.[serve]'") from e
        with self._revoked_lock:
            self._revoked.clear()  # left over from a previous consumer's close()
        self._consumer = KafkaConsumer(**consumer_settings(self.config))
        # guards kafka-python's rebalance race and learns the partitions before the first join
        listener = RevokeListener(self.partitions_revoked, self.partitions_assigned)
        subscribe(self._consumer, self.config.topic, listener)
        log.info(
            "consuming %s as group %s from %s", self.config.topic, self.config.group_id, self.config.bootstrap
        )

    def assigned(self) -> bool:
        """True once the group gave this consumer at least one partition."""
        return self._consumer is not None and bool(self._consumer.assignment())

    def partitions_revoked(self, partitions: Iterable[Any]) -> None:
        """The rebalance listener's hand-over (kafka-python's IO thread, while this consumer's
        thread waits in ``poll()``): the gathering loop drops these partitions' records when the
        poll returns."""
        with self._revoked_lock:
            self._revoked.update(partitions)
        self._invalidate = True

    def partitions_assigned(self, partitions: Iterable[Any]) -> None:
        """The listener's hand-over of a new assignment (kafka-python's IO thread)."""
        self.joined = True
        metrics.ASSIGNED.set(len(list(partitions)))

    def _take_revoked(self) -> set[Any]:
        with self._revoked_lock:
            revoked, self._revoked = self._revoked, set()
        if self._invalidate:
            # another consumer may have written the moved partitions' users meanwhile: cached
            # rows would overwrite its writes (lost updates), so the sink reads the store again
            self._invalidate = False
            clear = getattr(self.pipeline.sink, "clear_cache", None)
            if callable(clear):
                clear()
        return revoked

    def stop(self) -> None:
        """Ask the loop to finish the batch in hand and return (safe from a signal handler)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close(autocommit=False)
            self._consumer = None

    def run(self, max_idle_s: float | None = None) -> None:
        """Loop until ``stop()`` (or ``max_idle_s`` seconds without records, for benchmarks)."""
        self.open()
        idle_since = time.monotonic()
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                if self.poll_once() > 0:
                    idle_since = time.monotonic()
                    continue
                if max_idle_s is not None and time.monotonic() - idle_since > max_idle_s:
                    break
                # an empty poll that returned early (kafka-python does with its heartbeat off and no
                # partition) waits out its timeout: the loop never spins on a core
                self._stop.wait(self.config.poll_timeout_ms / 1000.0 - (time.monotonic() - started))
        finally:
            self.close()

    # ---- one iteration -------------------------------------------------------------------------
    def poll_once(self) -> int:
        """Gather, process and commit one batch; return how many records were committed."""
        self.open()
        self.last_iteration = time.monotonic()
        batch = self._gather()
        if batch.records == 0:
            self._update_lag()
            if self.lag == 0:
                self.last_commit = time.monotonic()  # caught up: nothing is waiting
            return 0
        try:
            result = self.pipeline.apply(batch.events, batch.rejected, self.config.max_batch_events)
        except Exception as e:  # noqa: BLE001 - never crash: back off and retry (/readyz reports it)
            self.retries += 1
            delay = self._backoff.next_delay()
            if isinstance(e, SinkUnavailable):
                log.warning(
                    "sink unavailable (%s); retrying %d records in %.2fs without committing",
                    e,
                    batch.records,
                    delay,
                )
            else:  # not a sink (those are isolated by the pipeline): dedupe or DLQ code failed
                log.exception("applying %d records failed; retrying in %.2fs", batch.records, delay)
            self._seek_back(batch.starts)
            self._update_lag(force=True)  # measured from the batch start: the backlog shows
            self._stop.wait(delay)
            return 0
        self._backoff.reset()
        self.batches += 1
        self.applied += result.accepted
        self.rejected += len(result.rejected)
        self.duplicates += result.duplicates
        self._commit(batch.ends)
        self.last_commit = time.monotonic()
        self._update_lag()
        return batch.records

    def _gather(self) -> GatheredBatch:
        """Poll and decode until the batch is full, old enough, or the consumer is caught up, or
        a rebalance revoked partitions (their records are dropped, the rest closes the batch)."""
        config, consumer = self.config, self._consumer
        batch = GatheredBatch()
        timeout_ms = config.poll_timeout_ms
        deadline = 0.0
        while True:
            room = config.max_batch_events - batch.size
            max_records = max(1, min(config.max_poll_records, int(room / self._events_per_record)))
            polled = consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
            if polled and batch.records == 0:
                deadline = time.monotonic() + config.max_batch_wait_ms / 1000.0
            self._add(batch, polled)
            revoked = self._take_revoked()
            if revoked:
                self._release(batch, revoked)
                return batch
            if not polled or batch.size >= config.max_batch_events:
                return batch
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0 or self._stop.is_set() or not self._behind():
                return batch
            timeout_ms = left_ms  # the next records are on the broker: wait for them, not longer

    def _add(self, batch: GatheredBatch, polled: dict[Any, list[Any]]) -> None:
        """Decode one poll into the batch, partition by partition."""
        records = received = 0
        for tp, recs in polled.items():
            prefix = f"{tp.topic}/{tp.partition}/"
            raw = [
                RawRecord(r.value or b"", encoding_from_headers(r.headers), f"{prefix}{r.offset}")
                for r in recs
            ]
            events, rejected, n = self.pipeline.decode(raw)
            batch.add(tp, recs[0].offset, recs[-1].offset, events, rejected, len(raw))
            records += len(raw)
            received += n
        if records:
            self.pipeline.count_received(received)
            self._events_per_record = max(1.0, received / records)

    def _release(self, batch: GatheredBatch, revoked: set[Any]) -> None:
        """Take the revoked partitions' records out of the batch and rewind them to where the
        batch started them: a partition given back to this consumer keeps its fetch position, so
        its dropped records are polled again; one that moved cannot be sought (its new owner
        starts from the committed offset, the same place)."""
        before = batch.records
        firsts = batch.drop(revoked)
        self.dropped_on_revoke += before - batch.records
        if firsts:
            log.info(
                "partitions %s revoked while gathering: %d records left to their next owner",
                sorted(f"{tp.topic}/{tp.partition}" for tp in firsts),
                before - batch.records,
            )
            self._seek_back(firsts)

    def _behind(self) -> bool:
        """True when some assigned partition has records on the broker that were not polled yet."""
        return any(lag > 0 for _, lag in self._lags(timeout_ms=0))

    def _lags(self, timeout_ms: int) -> Iterator[tuple[Any, int]]:
        """(partition, records on the broker not polled yet) of each assigned partition whose
        highwater and position are known (a partition revoked meanwhile is skipped: its new owner
        resumes it)."""
        consumer = self._consumer
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:
                continue
            try:
                position = consumer.position(tp, timeout_ms=timeout_ms)
            except Exception:  # noqa: BLE001 - best effort: revoked mid-batch, broker slow
                continue
            if position is not None:
                yield tp, max(0, high - position)

    def _seek_back(self, starts: dict[Any, int]) -> None:
        from kafka.errors import IllegalStateError

        for tp, offset in starts.items():
            try:
                self._consumer.seek(tp, offset)
            # kafka-python 3.0 raises ValueError for a partition no longer assigned (KeyError if
            # the assignment changes under the call); the other two are other versions' ways
            except (ValueError, KeyError, IllegalStateError, AssertionError):
                log.info("partition %s is no longer assigned; its new owner resumes it", tp)

    def _commit(self, ends: dict[Any, int]) -> None:
        """Commit the offset after each partition's last applied record, for the partitions this
        consumer still owns (a revoked one's records never reach here, see ``_release``)."""
        from kafka.errors import KafkaError
        from kafka.structs import OffsetAndMetadata

        owned = self._consumer.assignment()
        offsets = {tp: OffsetAndMetadata(end, "", -1) for tp, end in ends.items() if tp in owned}
        if len(offsets) < len(ends):
            log.info("not committing %s: no longer assigned", sorted(set(ends) - set(offsets)))
        if not offsets:
            return
        try:
            self._consumer.commit(offsets=offsets, timeout_ms=self.config.commit_timeout_ms)
        except KafkaError as e:
            # The batch is applied and marked seen: a redelivery is dropped as duplicates, and the
            # next successful commit covers these offsets.
            log.warning("offset commit failed (%s); the next commit covers it", e)

    def _update_lag(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_lag_update < 1.0:
            return
        self._last_lag_update = now
        total = 0
        for tp, lag in self._lags(timeout_ms=100):
            total += lag
            metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(lag)
        self.lag = total
