"""What one pass of the ingest pipeline did: counts and the rejected events with their reasons."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Rejection:
    """One invalid event: its id when known, ``reason`` ("field: why"), the original bytes,
    ``code`` ("field:kind", bounded, for metrics) and ``source`` (e.g. "topic/partition/offset")."""

    event_id: str
    reason: str
    payload: bytes
    code: str
    source: str = ""

    def __iter__(self):  # unpacks as (event_id, reason, payload)
        return iter((self.event_id, self.reason, self.payload))


@dataclass(frozen=True, slots=True)
class IngestResult:
    accepted: int
    rejected: list[Rejection] = field(default_factory=list)
    duplicates: int = 0

    @property
    def total(self) -> int:
        return self.accepted + len(self.rejected) + self.duplicates


def summary_fields(result: IngestResult, max_rejections: int = 100) -> dict:
    """Keyword arguments for ``fulcrum.v1.IngestSummary`` (the gRPC IngestEvents reply):
    ``pb.IngestSummary(accepted=..., rejected=..., duplicates=..., rejections=[{event_id, reason}])``."""
    return {
        "accepted": result.accepted,
        "rejected": len(result.rejected),
        "duplicates": result.duplicates,
        "rejections": [
            {"event_id": r.event_id, "reason": r.reason} for r in result.rejected[:max_rejections]
        ],
    }
