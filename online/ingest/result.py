"""What one pass of the ingest pipeline did: counts and the rejected events with their reasons."""

from __future__ import annotations

from dataclasses import dataclass, field

#: longest event id / reason / source a rejection keeps (they come from the input)
MAX_ID_CHARS = 256
MAX_REASON_CHARS = 1000


def printable(text: object, limit: int) -> str:
    """``text`` cut to ``limit`` characters and made encodable (a lone surrogate becomes its
    ``\\udXXX`` escape): a rejection's strings go into Kafka keys and headers, JSON and protobuf
    replies, all of which need UTF-8."""
    s = text if isinstance(text, str) else str(text)
    if len(s) > limit:
        s = s[:limit] + "..."
    if not s.isascii():
        s = s.encode("utf-8", "backslashreplace").decode("utf-8")
    return s


@dataclass(frozen=True, slots=True)
class Rejection:
    """One invalid event: its id when known, ``reason`` ("field: why"), the original bytes,
    ``code`` (a :class:`~online.ingest.reasons.RejectCode` value: fixed, for metrics) and
    ``source`` (e.g. "topic/partition/offset"). The id, reason and source are cut and made
    encodable here, whatever the input held."""

    event_id: str
    reason: str
    payload: bytes
    code: str
    source: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "event_id", printable(self.event_id, MAX_ID_CHARS))
        object.__setattr__(self, "reason", printable(self.reason, MAX_REASON_CHARS))
        object.__setattr__(self, "source", printable(self.source, MAX_ID_CHARS))
        object.__setattr__(self, "code", str(self.code))

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
