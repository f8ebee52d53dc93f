"""Train/test splits over the generic events table, and the split.json that records them.

Two kinds:

- ``time``: train = events strictly before the cut-off, test = from the cut-off on (OR-temporal
  uses 2011-11-09 00:00:00 UTC). Validation for tuning = the last ``validation_days`` of train.
- ``leave-last-out``: for each user with purchases at two or more distinct moments, their events
  from their last purchase moment on (the last basket) are test; everyone else is all train.
  Validation applies the same rule to the train part.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fulcrum.core import schema as S

TIME = "time"
LEAVE_LAST_OUT = "leave-last-out"
SPLIT_KINDS = (TIME, LEAVE_LAST_OUT)
TRAIN = "train"
TEST = "test"
VALIDATION_DAYS = 14


def time_split(timestamps: pd.Series, cutoff: pd.Timestamp) -> np.ndarray:
    """"train" for timestamps strictly before ``cutoff``, "test" otherwise."""
    before = (pd.to_datetime(timestamps, utc=True) < _utc(cutoff)).to_numpy(dtype=bool)
    return np.where(before, TRAIN, TEST).astype(object)


def leave_last_out_split(events: pd.DataFrame) -> np.ndarray:
    """"test" for each user's events at or after their last purchase moment, when that user also
    purchased at an earlier moment; "train" otherwise."""
    purchases = events[events[S.EVENT_TYPE] == S.EventType.PURCHASE.value]
    per_user = purchases.groupby(S.USER_ID)[S.TIMESTAMP].agg(["max", "nunique"])
    eligible = per_user[per_user["nunique"] >= 2]["max"]
    last = events[S.USER_ID].map(eligible)
    is_test = last.notna().to_numpy() & (events[S.TIMESTAMP] >= last).fillna(False).to_numpy()
    return np.where(is_test, TEST, TRAIN).astype(object)


def _utc(ts: pd.Timestamp | str) -> pd.Timestamp:
    ts = pd.Timestamp(ts)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


@dataclass(frozen=True)
class SplitInfo:
    """The contents of split.json."""

    protocol: str
    kind: str
    cutoff: pd.Timestamp | None = None
    validation_start: pd.Timestamp | None = None
    validation_days: int = VALIDATION_DAYS
    source: str = ""
    counts: dict = field(default_factory=dict)
    #: Published figures to sanity-check against (counts of the same name), when known.
    reference: dict = field(default_factory=dict)
    cleaning: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in SPLIT_KINDS:
            raise ValueError(f"split kind: {self.kind!r} is not one of {SPLIT_KINDS}")
        if self.kind == TIME and self.cutoff is None:
            raise ValueError("split cutoff: required for a time split")

    @classmethod
    def for_time(cls, protocol: str, cutoff: pd.Timestamp | str, **kw) -> SplitInfo:
        cut = _utc(cutoff)
        days = kw.pop("validation_days", VALIDATION_DAYS)
        return cls(protocol=protocol, kind=TIME, cutoff=cut,
                   validation_start=cut - pd.Timedelta(days=days), validation_days=days, **kw)

    def to_dict(self) -> dict:
        iso = lambda t: t.isoformat() if t is not None else None  # noqa: E731
        return {
            "protocol": self.protocol,
            "kind": self.kind,
            "cutoff": iso(self.cutoff),
            "validation_start": iso(self.validation_start),
            "validation_days": self.validation_days,
            "source": self.source,
            "counts": self.counts,
            "reference": self.reference,
            "cleaning": self.cleaning,
        }

    @classmethod
    def from_dict(cls, d: dict) -> SplitInfo:
        ts = lambda v: _utc(v) if v else None  # noqa: E731
        return cls(
            protocol=d["protocol"], kind=d["kind"], cutoff=ts(d.get("cutoff")),
            validation_start=ts(d.get("validation_start")),
            validation_days=int(d.get("validation_days", VALIDATION_DAYS)),
            source=d.get("source", ""), counts=dict(d.get("counts", {})),
            reference=dict(d.get("reference", {})), cleaning=dict(d.get("cleaning", {})),
        )

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> SplitInfo:
        return cls.from_dict(json.loads(path.read_text()))
