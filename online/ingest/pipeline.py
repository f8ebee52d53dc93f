"""The one ingest pipeline both doors feed (Kafka consumer, gRPC IngestEvents).

``process(records)``: decode -> validate -> drop duplicates (within the batch, and against the
idempotency store, which atomically claims the new ids for this pipeline: online/ingest/dedupe.py)
-> ``sink.apply(fresh events)`` -> mark their ids seen -> dead-letter the bad ones. Ids are
marked seen only after the sink succeeded; if it raises ``SinkUnavailable`` the exception
propagates, the claims are released, nothing is marked or dead-lettered, and the caller retries
the same records (the Kafka consumer seeks back without committing; the gRPC door answers
UNAVAILABLE).

A record is any of: ``bytes`` (a protobuf Event, or JSON), a :class:`RawRecord` (bytes with the
Kafka ``fulcrum-encoding`` header value and a source label), a parsed ``fulcrum.v1.Event``, or an
already-built :class:`~fulcrum.core.events.Event` (validated again: every door applies the rules).

``apply(..., max_batch=N)`` hands the fresh events to the sink in slices of at most N (the Kafka
door coalesces several polls into one batch, see online/ingest/consumer.py): each slice is
applied, then its ids are marked seen, so a slice is visible as soon as it is written; the
rejected ones are dead-lettered once every slice succeeded. If slice k fails, slices before it are
already marked seen and are dropped as duplicates on the retry, whose first slice is slice k
again (same events, so a sink that remembers a half-applied batch recognises it).

No event can stop the pipeline: a slice whose sink raises anything but ``SinkUnavailable``, or
keeps raising ``SinkUnavailable`` past the ``RetryPolicy`` (count and time), is bisected
(online/ingest/isolate.py); the events that fail alone are dead-lettered as ``sink:rejected``
(and marked seen), the rest applied. An outage (every part failing) stays ``SinkUnavailable``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from fulcrum.core.events import Event, InvalidEvent, event_to_json, validate_event
from online.ingest import metrics
from online.ingest.decode import _one_proto, decode_payload
from online.ingest.dedupe import BUSY, MINE, IdempotencyStore, MemoryDedupe, owner_token
from online.ingest.isolate import FailureTracker, Poison, RetryPolicy, apply_isolating
from online.ingest.reasons import RejectCode, code_of
from online.ingest.result import IngestResult, Rejection
from online.ingest.sink import EventSink, SinkUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RawRecord:
    payload: bytes
    encoding: bytes | None = None  # the fulcrum-encoding header value, if any
    source: str = ""  # e.g. "events/0/1234" for the DLQ


class DeadLetterSink(Protocol):
    def publish(self, rejections: Sequence[Rejection]) -> None:
        """Keep the rejected events with their reasons (may raise SinkUnavailable)."""
        ...


def _revalidate(event: Event, now_ms: int) -> Event:
    return validate_event(
        event_id=event.event_id,
        event_type=event.event_type,
        user_id=event.user_id,
        item_id=event.item_id,
        quantity=event.quantity,
        price=event.price,
        timestamp_ms=event.timestamp_ms,
        session_id=event.session_id,
        item_text=event.item_text,
        now_ms=now_ms,
    )


class IngestPipeline:
    def __init__(
        self,
        sink: EventSink,
        dedupe: IdempotencyStore | None = None,
        dlq: DeadLetterSink | None = None,
        door: str = "kafka",
        clock: Callable[[], float] = time.time,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.sink = sink
        self.dedupe: IdempotencyStore = dedupe if dedupe is not None else MemoryDedupe()
        self.dlq = dlq
        self.door = door
        self.clock = clock
        self._lock = threading.Lock()  # seen -> apply -> mark is atomic across doors
        self._failures = FailureTracker(retry or RetryPolicy())
        self._owner = owner_token()
        self._m_consumed = metrics.CONSUMED.labels(door)
        self._m_applied = metrics.APPLIED.labels(door)
        self._m_dupes = metrics.DUPLICATES.labels(door)
        self._m_push = metrics.PUSH_SECONDS.labels(door)
        self._m_unavailable = metrics.SINK_UNAVAILABLE.labels(door)

    # ---- decoding ------------------------------------------------------------------------------
    def decode(self, records: Iterable[object]) -> tuple[list[Event], list[Rejection], int]:
        """Validated events, rejections and the number of events received."""
        now_ms = int(self.clock() * 1000)
        events: list[Event] = []
        rejected: list[Rejection] = []
        received = 0
        for rec in records:
            if isinstance(rec, bytes | bytearray | memoryview):
                received += decode_payload(bytes(rec), None, now_ms, "", events, rejected)
            elif isinstance(rec, RawRecord):
                received += decode_payload(rec.payload, rec.encoding, now_ms, rec.source, events, rejected)
            elif isinstance(rec, Event):
                received += 1
                try:
                    events.append(_revalidate(rec, now_ms))
                except InvalidEvent as err:
                    rejected.append(Rejection(rec.event_id, str(err), event_to_json(rec), code_of(err)))
            elif hasattr(rec, "SerializeToString") and hasattr(rec, "event_id"):
                received += 1
                _one_proto(rec, None, now_ms, "", events, rejected)  # type: ignore[arg-type]
            else:
                raise TypeError(f"records: cannot ingest a {type(rec).__name__}")
        return events, rejected, received

    # ---- applying ------------------------------------------------------------------------------
    def process(self, records: Iterable[object], max_batch: int | None = None) -> IngestResult:
        events, rejected, received = self.decode(records)
        self.count_received(received)
        return self.apply(events, rejected, max_batch)

    def count_received(self, received: int) -> None:
        """Count events received by this door (for callers that decode and apply apart)."""
        self._m_consumed.inc(received)

    def apply(
        self, events: Sequence[Event], rejected: Sequence[Rejection] = (), max_batch: int | None = None
    ) -> IngestResult:
        if max_batch is not None and max_batch < 1:
            raise ValueError(f"max_batch: must be >= 1, got {max_batch}")
        with self._lock:
            unique: list[Event] = []
            batch_ids: set[str] = set()
            for e in events:
                if e.event_id not in batch_ids:
                    batch_ids.add(e.event_id)
                    unique.append(e)
            fresh = self._claim(unique)
            duplicates = len(events) - len(fresh)
            step = max_batch or max(1, len(fresh))
            rejected = list(rejected)
            poisoned = 0
            for start in range(0, len(fresh), step):
                part = fresh[start : start + step]
                started = time.perf_counter()
                try:
                    poison = self._apply_part(part)
                except BaseException:
                    self._unclaim(fresh[start:])  # the retry, or another consumer, may take them at once
                    raise
                self._m_push.observe(time.perf_counter() - started)
                self.dedupe.mark([e.event_id for e in part])
                self._m_applied.inc(len(part) - len(poison))
                rejected.extend(_sink_rejection(e, err) for e, err in poison)
                poisoned += len(poison)
            if rejected and self.dlq is not None:
                self.dlq.publish(rejected)
        if duplicates:
            self._m_dupes.inc(duplicates)
        for r in rejected:
            metrics.REJECTED.labels(self.door, r.code).inc()
        if rejected:
            log.debug("rejected %d events, first: %s", len(rejected), rejected[0].reason)
        return IngestResult(len(fresh) - poisoned, rejected, duplicates)

    def _claim(self, unique: list[Event]) -> list[Event]:
        """The events this pipeline may apply: not applied yet and now claimed by it. Raises
        ``SinkUnavailable`` while another consumer or server holds a live claim on one of them
        (it is applying it now): the retry finds it done (a duplicate) or its claim expired."""
        ids = [e.event_id for e in unique]
        reserve = getattr(self.dedupe, "reserve", None)
        if not callable(reserve):  # a store without claims: per-process check only
            return [e for e, s in zip(unique, self.dedupe.seen(ids), strict=True) if not s]
        answers = reserve(ids, self._owner)
        busy = sum(1 for a in answers if a == BUSY)
        mine = [e for e, a in zip(unique, answers, strict=True) if a == MINE]
        if busy:
            self._unclaim(mine)
            raise SinkUnavailable(f"{busy} events are being applied by another consumer; retrying")
        return mine

    def _unclaim(self, events: Sequence[Event]) -> None:
        release = getattr(self.dedupe, "release", None)
        if callable(release) and events:
            release([e.event_id for e in events], self._owner)

    def _apply_part(self, part: list[Event]) -> list[Poison]:
        """Apply one slice; return its poison events (dead-lettered, the rest applied). A
        ``SinkUnavailable`` propagates (retry later) until the same slice has failed past the
        retry policy; then, like any unexpected error, the slice is bisected
        (online/ingest/isolate.py)."""
        try:
            self.sink.apply(part)
        except SinkUnavailable as e:
            self._m_unavailable.inc()
            if not self._failures.failed(part):
                raise
            log.warning("the same %d events failed %s; looking for a poison event", len(part), e)
            error: BaseException = e
        except Exception as e:  # noqa: BLE001 - a sink bug or a poison event: isolate it
            log.exception("the sink failed unexpectedly on %d events; looking for a poison event", len(part))
            error = e
        else:
            self._failures.reset()
            return []
        isolating = getattr(self.sink, "apply_isolating", None)
        poison = isolating(part, error) if callable(isolating) else apply_isolating(self.sink, part, error)
        self._failures.reset()
        return poison


def _sink_rejection(event: Event, err: BaseException) -> Rejection:
    return Rejection(
        event.event_id,
        f"sink: could not apply this event on its own ({type(err).__name__}); "
        "the rest of its batch was applied",
        event_to_json(event),
        RejectCode.SINK_REJECTED,
    )
