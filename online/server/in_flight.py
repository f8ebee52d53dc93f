"""How many Recommend/Search calls are in flight: lets a lone request skip the batcher's thread hop."""

from __future__ import annotations


class InFlight:
    def __init__(self) -> None:
        self.count = 0

    def __enter__(self) -> InFlight:
        self.count += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self.count -= 1

    def alone(self) -> bool:
        return self.count <= 1
