"""The event-loop lag probe: how late the loop runs a callback that was due, as a metric.

Every RPC of a ``grpc.aio`` server is handled on one event loop: anything that holds it (a
blocking call, a long pure-Python computation, a thread hogging the GIL) delays every call in
flight. ``LoopLagProbe`` is a periodic task that sleeps ``interval_s`` and records how much later
than due it woke up: ``fulcrum_event_loop_lag_seconds`` (histogram) and
``fulcrum_event_loop_lag_max_seconds`` (the largest lag since start, a gauge). A stall of S
seconds always shows as a sample of at least S - ``interval_s`` (the stall overlaps the next
due wake-up), so a short interval measures stalls precisely (1 ms for a measurement; the
default, 25 ms, costs ~40 wake-ups per second). ``probe_interval_ms: 0`` turns it off.
"""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import Gauge, Histogram

LAG = Histogram(
    "fulcrum_event_loop_lag_seconds",
    "How late the event loop ran the lag probe's due wake-up",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
LAG_MAX = Gauge("fulcrum_event_loop_lag_max_seconds", "Largest event-loop lag seen since start")


class LoopLagProbe:
    """``start()`` on the loop to watch; ``await stop()``. ``max_lag_s`` / ``samples`` for tests."""

    def __init__(self, interval_s: float) -> None:
        if not interval_s > 0:
            raise ValueError(f"loop lag probe interval must be > 0 s, got {interval_s!r}")
        self.interval_s = float(interval_s)
        self.max_lag_s = 0.0
        self.samples = 0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag-probe")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def record(self, lag_s: float) -> None:
        lag_s = max(lag_s, 0.0)
        LAG.observe(lag_s)
        self.samples += 1
        if lag_s > self.max_lag_s:
            self.max_lag_s = lag_s
            LAG_MAX.set(lag_s)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval_s
            await asyncio.sleep(self.interval_s)
            self.record(loop.time() - due)
