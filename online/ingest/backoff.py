"""Exponential back-off of the consume loop while a sink, Redis or the DLQ is unavailable."""

from __future__ import annotations


class Backoff:
    """Exponential back-off: initial, 2x, 4x ... capped; ``reset()`` after a success."""

    def __init__(self, initial_s: float, max_s: float) -> None:
        self.initial_s, self.max_s = initial_s, max_s
        self.failures = 0

    def next_delay(self) -> float:
        delay = min(self.max_s, self.initial_s * (2**self.failures))
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0
