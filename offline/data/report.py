"""What a prepare run did: rows read, rows dropped per cleaning rule, rows written."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CleaningReport:
    """Counts collected by an adapter. ``dropped`` keeps rule order; each raw row is charged to
    the first rule it breaks, so ``raw_rows == sum(dropped) + kept_rows``."""

    source: str
    path: str
    raw_rows: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    #: Facts worth showing that drop nothing (rows converted, description variants, ...).
    notes: dict[str, int] = field(default_factory=dict)
    events_by_type: dict[str, int] = field(default_factory=dict)
    items_written: int = 0

    def drop(self, rule: str, count: int) -> None:
        self.dropped[rule] = self.dropped.get(rule, 0) + int(count)

    def note(self, name: str, count: int) -> None:
        self.notes[name] = int(count)

    @property
    def kept_rows(self) -> int:
        return self.raw_rows - sum(self.dropped.values())

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "raw_rows": self.raw_rows,
            "dropped": dict(self.dropped),
            "notes": dict(self.notes),
            "events_by_type": dict(self.events_by_type),
            "items_written": self.items_written,
        }
