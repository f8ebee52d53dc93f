"""Load a prepared data folder: the one door every downstream step (training, evaluation) uses.

>>> data = load_prepared("artifacts/data")                       # doctest: +SKIP
>>> data.train_purchases(), data.test_purchases()                 # doctest: +SKIP
>>> val = data.validation_split()   # same shape, test = last 14 days of train (never the test)

Works on the generic schema only (fulcrum/core/schema.py); nothing here knows any shop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fulcrum.core import schema as S
from offline.data.errors import DataError
from offline.data.split import LEAVE_LAST_OUT, TEST, TIME, TRAIN, SplitInfo, leave_last_out_split, time_split

_PURCHASE = S.EventType.PURCHASE.value


@dataclass(frozen=True)
class PreparedData:
    """Events (with the ``split`` column), items and the split description."""

    events: pd.DataFrame
    items: pd.DataFrame
    split: SplitInfo

    # ---- slices ------------------------------------------------------------------------------
    def purchases(self) -> pd.DataFrame:
        return self.events[self.events[S.EVENT_TYPE] == _PURCHASE]

    def train_events(self) -> pd.DataFrame:
        """Every event (any type) on the train side: what a model may learn from."""
        return self.events[self.events[S.SPLIT] == TRAIN]

    def test_events(self) -> pd.DataFrame:
        return self.events[self.events[S.SPLIT] == TEST]

    def train_purchases(self) -> pd.DataFrame:
        e = self.events
        return e[(e[S.SPLIT] == TRAIN) & (e[S.EVENT_TYPE] == _PURCHASE)]

    def test_purchases(self) -> pd.DataFrame:
        e = self.events
        return e[(e[S.SPLIT] == TEST) & (e[S.EVENT_TYPE] == _PURCHASE)]

    def item_text(self) -> dict[str, str]:
        return dict(zip(self.items[S.ITEM_ID], self.items[S.ITEM_TEXT], strict=True))

    # ---- tuning ------------------------------------------------------------------------------
    def validation_split(self) -> PreparedData:
        """A PreparedData over the train events only, re-split for tuning.

        Time split: test = the last ``validation_days`` of train (from ``validation_start``);
        leave-last-out: each user's last train basket. The real test events are not included.
        """
        train = self.train_events().copy()
        if self.split.kind == TIME:
            start = self.split.validation_start
            train[S.SPLIT] = time_split(train[S.TIMESTAMP], start)
            info = SplitInfo.for_time(f"{self.split.protocol}/validation", start,
                                      validation_days=self.split.validation_days, source=self.split.source)
        else:
            train[S.SPLIT] = leave_last_out_split(train)
            info = SplitInfo(protocol=f"{self.split.protocol}/validation", kind=LEAVE_LAST_OUT,
                             source=self.split.source)
        return PreparedData(events=train.reset_index(drop=True), items=self.items, split=info)


def _read_parquet(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(str(path), "file not found (run `fulcrum data prepare` first)")
    try:
        frame = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise DataError(str(path), f"not a readable parquet file ({e})") from e
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(str(path), f"missing column(s) {missing}")
    return frame


def load_prepared(data_dir: str | Path) -> PreparedData:
    """Read events.parquet, items.parquet and split.json from ``data_dir``."""
    root = Path(data_dir)
    events = _read_parquet(root / S.EVENTS_FILE, S.EVENT_COLUMNS)
    items = _read_parquet(root / S.ITEMS_FILE, S.ITEM_COLUMNS)
    split_path = root / S.SPLIT_FILE
    if not split_path.is_file():
        raise DataError(str(split_path), "file not found (run `fulcrum data prepare` first)")
    try:
        split = SplitInfo.read(split_path)
    except (ValueError, KeyError) as e:
        raise DataError(str(split_path), f"invalid split description ({e})") from e
    return PreparedData(events=events, items=items, split=split)
