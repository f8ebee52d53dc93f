"""How many Recommend/Search calls are in flight, and whether the server is idle enough for a
lone request to skip the batcher's thread hop.

The instantaneous count alone is a poor load signal under ``grpc.aio``: the event loop takes
one RPC at a time from gRPC's completion queue and, when the encoder runs inline, carries it to
the end before it accepts the next, so even at 64 concurrent clients most requests find
themselves alone (measured: 85 % entered with nobody else in flight). Running those inline kept
the loop blocked during every forward, so batches never formed (mean batch 1.0-1.2) and
throughput at concurrency 64 stayed that of concurrency 1.

``alone()`` therefore adds memory: it is True only when at most one call is in flight now
**and** no two calls have overlapped during the last ``quiet_s`` seconds. A single client
(nothing ever overlaps) keeps the inline path; any burst of overlap switches to the executor
path, where the loop keeps accepting RPCs while ONNX Runtime runs and batches form, and the
switch back waits until the burst has been quiet for ``quiet_s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: how long without overlapping calls before a lone request may run inline again
QUIET_S = 0.25


class InFlight:
    def __init__(self, quiet_s: float = QUIET_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.count = 0
        self.quiet_s = quiet_s
        self._clock = clock
        self._last_overlap = float("-inf")

    def __enter__(self) -> InFlight:
        if self.count:
            self._last_overlap = self._clock()
        self.count += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self.count -= 1

    def alone(self) -> bool:
        return self.count <= 1 and self._clock() - self._last_overlap >= self.quiet_s
