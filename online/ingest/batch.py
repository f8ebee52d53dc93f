"""What one consumer iteration gathered from Kafka, kept per partition.

The Kafka door (online/ingest/consumer.py) polls several times into one batch before applying it.
The batch remembers, for every partition, the offset of its first record (where a retry seeks back
to) and the offset after its last one (what a commit records), and which events and rejections
came from it, in poll order: so the records of a partition revoked while the batch was being
gathered can be taken out again before anything is applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fulcrum.core.events import Event
from online.ingest.result import Rejection


@dataclass
class _Segment:
    partition: Any
    events: list[Event]
    rejected: list[Rejection]
    records: int


@dataclass
class GatheredBatch:
    _segments: list[_Segment] = field(default_factory=list)
    #: partition -> offset of its first record in the batch (where a retry seeks back to)
    starts: dict[Any, int] = field(default_factory=dict)
    #: partition -> offset after its last record in the batch (what the commit records)
    ends: dict[Any, int] = field(default_factory=dict)
    records: int = 0
    size: int = 0  # events + rejections

    def add(
        self,
        partition: Any,
        first_offset: int,
        last_offset: int,
        events: list[Event],
        rejected: list[Rejection],
        records: int,
    ) -> None:
        """One poll's decoded records of one partition (offsets first..last, in order)."""
        self._segments.append(_Segment(partition, events, rejected, records))
        self.starts.setdefault(partition, first_offset)
        self.ends[partition] = last_offset + 1
        self.records += records
        self.size += len(events) + len(rejected)

    @property
    def events(self) -> list[Event]:
        return [e for s in self._segments for e in s.events]

    @property
    def rejected(self) -> list[Rejection]:
        return [r for s in self._segments for r in s.rejected]

    def partitions(self) -> set[Any]:
        return set(self.starts)

    def drop(self, partitions: set[Any]) -> dict[Any, int]:
        """Take every record of ``partitions`` out; return their first offsets (partition -> offset)
        for those that had records in the batch."""
        kept = [s for s in self._segments if s.partition not in partitions]
        for s in self._segments:
            if s.partition in partitions:
                self.records -= s.records
                self.size -= len(s.events) + len(s.rejected)
        self._segments = kept
        firsts = {tp: self.starts.pop(tp) for tp in partitions if tp in self.starts}
        for tp in firsts:
            del self.ends[tp]
        return firsts
