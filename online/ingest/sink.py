"""Where accepted events go: the ``EventSink`` protocol, its failure and the fan-out.

A sink receives a batch of validated, de-duplicated events and either applies all of them or raises
``SinkUnavailable`` (its store is down or timed out): the caller then retries the same batch later,
so a sink must tolerate seeing a batch again after it failed part-way. ``FanoutSink`` keeps that
promise for a list of sinks by remembering which of them already took the batch being retried.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from fulcrum.core.errors import Unavailable
from fulcrum.core.events import Event

log = logging.getLogger(__name__)


class SinkUnavailable(Unavailable):
    """The sink's store is unavailable; nothing of the batch may be considered applied."""


@runtime_checkable
class EventSink(Protocol):
    def apply(self, events: Sequence[Event]) -> None:
        """Apply every event of the batch, or raise ``SinkUnavailable``."""
        ...


def _batch_key(events: Sequence[Event]) -> tuple[str, ...]:
    return tuple(e.event_id for e in events)


class FanoutSink:
    """Apply a batch to several sinks in order.

    If sink k fails, sinks 0..k-1 already have the batch; when the same batch (same event ids) is
    retried they are skipped, so no sink applies it twice. Only the last failed batch is
    remembered: the pipeline always retries a failed batch before it sends another one.
    """

    def __init__(self, sinks: Sequence[EventSink]) -> None:
        if not sinks:
            raise ValueError("sinks: at least one sink is needed")
        self.sinks = list(sinks)
        self._pending_key: tuple[str, ...] | None = None
        self._done: set[int] = set()

    def apply(self, events: Sequence[Event]) -> None:
        key = _batch_key(events)
        if key != self._pending_key:
            self._pending_key, self._done = key, set()
        for i, sink in enumerate(self.sinks):
            if i in self._done:
                continue
            sink.apply(events)  # SinkUnavailable propagates; the sinks done so far are remembered
            self._done.add(i)
        self._pending_key, self._done = None, set()

    def apply_isolating(self, events: Sequence[Event], error: BaseException) -> list:
        """``online.ingest.isolate.apply_isolating`` sink by sink (the batch just failed with
        ``error``): the sinks that already took it are skipped as in ``apply``, a failing one is
        bisected on its own, and its poison events are kept from the sinks after it. Returns the
        poison (event, error) pairs."""
        from online.ingest.isolate import apply_isolating

        key = _batch_key(events)
        if key != self._pending_key:
            self._pending_key, self._done = key, set()
        poison: list = []
        bad: set[str] = set()
        for i, sink in enumerate(self.sinks):
            if i in self._done:
                continue
            todo = [e for e in events if e.event_id not in bad] if bad else list(events)
            if todo:
                try:
                    sink.apply(todo)
                except Exception as e:  # noqa: BLE001 - isolated below; SinkUnavailable may propagate
                    found = apply_isolating(sink, todo, e)
                    poison.extend(found)
                    bad.update(ev.event_id for ev, _ in found)
            self._done.add(i)
        self._pending_key, self._done = None, set()
        return poison

    def clear_cache(self) -> None:
        """Forward to the sinks that cache rows (a partition was revoked)."""
        for sink in self.sinks:
            clear = getattr(sink, "clear_cache", None)
            if callable(clear):
                clear()

    def close(self) -> None:
        for sink in self.sinks:
            close = getattr(sink, "close", None)
            if callable(close):
                close()
