"""Accepted events appended to the offline store, so the next training run sees them.

Each applied batch becomes one parquet file, written to a temporary name and renamed (a reader
never sees half a file):

- ``<offline_dir>/ingested/events/part-<ms>-<uuid>.parquet``: behaviour events in the events-table
  schema of :mod:`fulcrum.core.schema` (``split`` = "train": they are new training data),
- ``<offline_dir>/ingested/items/part-<ms>-<uuid>.parquet``: ITEM_UPSERT events in the items-table
  schema (item id, text, price, first seen).

Training reads them with ``pandas.read_parquet(<offline_dir>/ingested/events)`` next to the
prepared ``events.parquet``. A batch retried after a failure may be written again; readers drop
repeated ``event_id`` values (the events table's key).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from fulcrum.core import schema as S
from fulcrum.core.events import Event
from online.ingest.sink import SinkUnavailable

log = logging.getLogger(__name__)

EVENTS_SUBDIR = Path("ingested") / "events"
ITEMS_SUBDIR = Path("ingested") / "items"


class OfflineAppendSink:
    def __init__(self, offline_dir: Path | str) -> None:
        self.root = Path(offline_dir)
        self.files_written = 0

    def _write(self, frame, subdir: Path) -> None:
        folder = self.root / subdir
        folder.mkdir(parents=True, exist_ok=True)
        name = f"part-{int(time.time() * 1000):013d}-{uuid.uuid4().hex[:12]}.parquet"
        tmp = folder / f".{name}.tmp"
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, folder / name)
        self.files_written += 1

    def apply(self, events: Sequence[Event]) -> None:
        import pandas as pd

        behaviour = [e for e in events if not e.is_item_upsert]
        upserts = [e for e in events if e.is_item_upsert]
        try:
            if behaviour:
                frame = pd.DataFrame(
                    {
                        S.EVENT_ID: [e.event_id for e in behaviour],
                        S.USER_ID: [e.user_id for e in behaviour],
                        S.ITEM_ID: [e.item_id for e in behaviour],
                        S.EVENT_TYPE: [e.event_type.value for e in behaviour],
                        S.QUANTITY: [e.quantity for e in behaviour],
                        S.PRICE: [e.price for e in behaviour],
                        S.TIMESTAMP: pd.to_datetime([e.timestamp_ms for e in behaviour], unit="ms", utc=True),
                        S.SESSION_ID: [e.session_id for e in behaviour],
                        S.SPLIT: "train",
                    },
                    columns=list(S.EVENT_COLUMNS),
                )
                self._write(frame, EVENTS_SUBDIR)
            if upserts:
                frame = pd.DataFrame(
                    {
                        S.ITEM_ID: [e.item_id for e in upserts],
                        S.ITEM_TEXT: [e.item_text for e in upserts],
                        S.PRICE: [e.price for e in upserts],
                        S.FIRST_SEEN: pd.to_datetime([e.timestamp_ms for e in upserts], unit="ms", utc=True),
                    },
                    columns=list(S.ITEM_COLUMNS),
                )
                self._write(frame, ITEMS_SUBDIR)
        except OSError as e:
            raise SinkUnavailable(f"offline store {self.root}: {e}") from e
