"""The one place the evaluation reads the prepared split: the validation slice and the cuts.

Everything in offline/baselines/ and the quality benchmark asks these functions, so a change to
offline/data/split.py (kinds of split, how validation is carved) is absorbed here:

- ``validation_of(prepared)``: the tuning slice, carved from the train side only (time split: its
  last ``validation_days``; leave-last-out: each user's last train basket), never the test;
- ``user_cuts(prepared)``: when each user is evaluated, as epoch seconds. A time split has one
  cut-off for everyone (``per_user`` False). A leave-last-out split has one cut per user: the
  start of their held-out basket (their first test event); anyone else -- and "now" for models
  fitted on the whole train side -- is one second after the latest train event.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fulcrum.core import schema as S


def epoch_seconds(ts: pd.Series) -> np.ndarray:
    t = pd.to_datetime(ts, utc=True)
    return (t - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=np.float64)


@dataclass(frozen=True)
class Cuts:
    default: float
    by_user: dict[str, float] = field(default_factory=dict)
    per_user: bool = False

    def of(self, user: str) -> float:
        return self.by_user.get(user, self.default)


def validation_of(prepared):
    """The validation PreparedData (train events only, re-split for tuning)."""
    return prepared.validation_split()


def user_cuts(prepared) -> Cuts:
    """The evaluation moment of every user (see the module doc)."""
    cutoff = getattr(prepared.split, "cutoff", None)
    if cutoff is not None and prepared.split.kind == "time":
        return Cuts(default=float(pd.Timestamp(cutoff).timestamp()))
    train, test = prepared.train_events(), prepared.test_events()
    if train.empty:
        raise ValueError(f"split {prepared.split.protocol!r}: the train side is empty")
    default = float(epoch_seconds(train[S.TIMESTAMP]).max()) + 1.0
    if test.empty:
        return Cuts(default=default, per_user=True)
    first = pd.Series(epoch_seconds(test[S.TIMESTAMP]), index=test[S.USER_ID].astype(str).to_numpy())
    by_user = {str(u): float(t) for u, t in first.groupby(level=0).min().items()}
    return Cuts(default=default, by_user=by_user, per_user=True)
