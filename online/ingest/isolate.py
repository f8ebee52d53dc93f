"""Finding the poison event of a batch a sink cannot apply, so the rest of the batch is applied.

A sink applies a batch or raises. ``SinkUnavailable`` means "my store is down, retry later", and
the pipeline retries the same batch with back-off; any other exception, or a ``SinkUnavailable``
that keeps coming back for the same batch past ``RetryPolicy`` (its count AND its time bound),
may be one event the sink can never apply (a value its store refuses, a bug hit by one input).
Retrying that batch forever would stall the partition, crashing would crash-loop every replica.

``apply_isolating(sink, events, error)`` bisects instead: apply each half; a half that fails is
split again, down to single events. What fails alone is returned as poison (the pipeline
dead-letters it with ``sink:rejected``); everything else has been applied. Cost: about
``2 * log2(n)`` extra sink calls per poison event.

It does not mistake an outage for poison: when both halves of a split fail with
``SinkUnavailable`` before any part of the batch was applied, the store is down and
``SinkUnavailable`` is raised (the caller backs off as usual); a single event whose failure is
``SinkUnavailable`` is tried once more before it is called poison.

A sink applied in halves may already have applied part of the batch before failing (no sink is
transactional across views); the folds are idempotent per event (docs/scaling.md), so the halves
applied again change nothing twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fulcrum.core.events import Event
from online.ingest.sink import EventSink, SinkUnavailable

log = logging.getLogger(__name__)

#: an event a sink could not apply on its own, with the last error
Poison = tuple[Event, BaseException]


@dataclass(frozen=True)
class RetryPolicy:
    """When a batch that keeps failing is searched for a poison event instead of retried again:
    after ``max_attempts`` consecutive failures of the same batch that span ``max_seconds``."""

    max_attempts: int = 3
    max_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts: must be >= 1, got {self.max_attempts}")
        if self.max_seconds < 0:
            raise ValueError(f"max_seconds: must be >= 0, got {self.max_seconds}")


class FailureTracker:
    """Consecutive failures of one batch (identified by its event ids)."""

    def __init__(self, policy: RetryPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._key: tuple[str, str, int] | None = None
        self._attempts = 0
        self._since = 0.0

    def failed(self, events: Sequence[Event]) -> bool:
        """Count one failure of ``events``; True when the policy's bounds are both passed."""
        key = (events[0].event_id, events[-1].event_id, len(events)) if events else ("", "", 0)
        if key != self._key:
            self._key, self._attempts, self._since = key, 0, self._clock()
        self._attempts += 1
        return (
            self._attempts >= self.policy.max_attempts
            and self._clock() - self._since >= self.policy.max_seconds
        )

    def reset(self) -> None:
        self._key, self._attempts = None, 0


def apply_isolating(sink: EventSink, events: Sequence[Event], error: BaseException) -> list[Poison]:
    """Apply ``events`` (which just failed with ``error`` as a whole) in ever smaller parts;
    return the events that fail alone. Raises ``SinkUnavailable`` when the store looks down."""
    applied_any = False
    poison: list[Poison] = []

    def attempt(part: Sequence[Event]) -> BaseException | None:
        nonlocal applied_any
        try:
            sink.apply(part)
        except Exception as e:  # noqa: BLE001 - every failure is what the search is about
            return e
        applied_any = True
        return None

    def split(part: Sequence[Event], err: BaseException) -> None:
        if len(part) == 1:
            if isinstance(err, SinkUnavailable):
                retry = attempt(part)
                if retry is None:
                    return
                if isinstance(retry, SinkUnavailable) and not applied_any:
                    raise SinkUnavailable(f"still unavailable while isolating a failing batch: {retry}")
                err = retry
            log.warning(
                "event %r cannot be applied on its own (%s: %s); dead-lettering it",
                part[0].event_id,
                type(err).__name__,
                err,
            )
            poison.append((part[0], err))
            return
        mid = len(part) // 2
        halves = (part[:mid], part[mid:])
        errors = [attempt(h) for h in halves]
        if not applied_any and all(isinstance(e, SinkUnavailable) for e in errors):
            raise SinkUnavailable(f"every part of the batch failed, the store looks down: {errors[0]}")
        for half, e in zip(halves, errors, strict=True):
            if e is not None:
                split(half, e)

    split(events, error)
    return poison
