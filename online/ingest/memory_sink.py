"""An in-memory ``EventSink``: the unit-test double and the benchmark's sink.

It records every applied event (so tests can assert "exactly once") and can be told to be
unavailable for a while to exercise the retry path.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence

from fulcrum.core.events import Event
from online.ingest.sink import SinkUnavailable


class MemorySink:
    def __init__(self, keep_events: bool = True) -> None:
        self.keep_events = keep_events
        self.events: list[Event] = []
        self.applied_count = 0
        self.apply_calls = 0
        self.failed_calls = 0
        self.times_applied: Counter[str] = Counter()
        self._fail_remaining = 0
        self._down = False
        self._lock = threading.Lock()

    def fail_next(self, calls: int) -> None:
        """The next ``calls`` apply() calls raise ``SinkUnavailable``."""
        with self._lock:
            self._fail_remaining = calls

    def set_down(self, down: bool) -> None:
        """While down, every apply() raises ``SinkUnavailable``."""
        with self._lock:
            self._down = down

    def apply(self, events: Sequence[Event]) -> None:
        with self._lock:
            self.apply_calls += 1
            if self._down or self._fail_remaining > 0:
                self._fail_remaining = max(0, self._fail_remaining - 1)
                self.failed_calls += 1
                raise SinkUnavailable("memory sink told to be unavailable")
            self.applied_count += len(events)
            if self.keep_events:
                self.events.extend(events)
                self.times_applied.update(e.event_id for e in events)

    def snapshot_ids(self) -> Counter[str]:
        with self._lock:
            return Counter(self.times_applied)
