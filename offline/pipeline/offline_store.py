"""The offline store as training sees it: the prepared events plus the events ingestion appended.

Ingestion (online.ingest.offline_sink.OfflineAppendSink) writes accepted events as parquet parts
under ``<offline_dir>/ingested/events/`` (events-table schema, ``split`` = "train") and ITEM_UPSERTs
under ``<offline_dir>/ingested/items/``. ``merge_events`` is the pure rule; ``write_retrain_data``
writes a prepared folder that ``fulcrum train`` and offline.eval read like any other.

What the merged folder holds, and why:

- every event the shop knows about = prepared TRAIN events + ingested events. Prepared TEST
  events that were not ingested are left out: for a deployed system they have not happened yet
  (the demo replays the test period; a bounded replay leaves the rest in the future).
- one row per ``event_id`` (a redelivered batch may be appended twice; an ingested copy of a
  prepared event replaces it), sorted by time.
- split.json is a time split whose cut-off is ``judge_days`` before the end of the data: the
  newest ``judge_days`` are "test" -- the promotion judge's slice, which the candidate never
  trains on (not for early stopping, not for its refit, not for its ranking head's calibration)
  -- and everything before is "train" (its own last ``validation_days`` are the candidate's
  validation slice). The test split of the original protocol is never used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fulcrum.core import schema as S

log = logging.getLogger(__name__)

#: the layout of OfflineAppendSink (online/ingest/offline_sink.py), relative to its offline dir
INGESTED_EVENTS = Path("ingested") / "events"
INGESTED_ITEMS = Path("ingested") / "items"


@dataclass(frozen=True)
class MergeSummary:
    prepared_train: int
    ingested: int
    ingested_files: int
    merged: int
    duplicates_dropped: int
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    new_items: int


def read_parts(folder: Path) -> tuple[pd.DataFrame | None, int]:
    """Every ``*.parquet`` part in ``folder`` (temporary ``.*`` files skipped), concatenated."""
    parts = (
        sorted(p for p in Path(folder).glob("*.parquet") if not p.name.startswith("."))
        if folder.is_dir()
        else []
    )
    if not parts:
        return None, 0
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True), len(parts)


def merge_events(prepared: pd.DataFrame, ingested: pd.DataFrame | None) -> tuple[pd.DataFrame, int]:
    """Prepared train events + ingested events, one row per event_id (the ingested copy wins),
    sorted by time, all marked "train". Returns (events, duplicate rows dropped)."""
    train = prepared[prepared[S.SPLIT].astype(str) == "train"]
    frames = [train[list(S.EVENT_COLUMNS)]]
    if ingested is not None and len(ingested):
        missing = [c for c in S.EVENT_COLUMNS if c not in ingested.columns and c != S.SPLIT]
        if missing:
            raise ValueError(f"ingested events: missing column(s) {missing}")
        frames.append(ingested.assign(**{S.SPLIT: "train"})[list(S.EVENT_COLUMNS)])
    both = pd.concat(frames, ignore_index=True)
    both[S.TIMESTAMP] = pd.to_datetime(both[S.TIMESTAMP], utc=True)
    before = len(both)
    merged = both.drop_duplicates(S.EVENT_ID, keep="last")
    merged = merged.sort_values(S.TIMESTAMP, kind="stable").reset_index(drop=True)
    return merged, before - len(merged)


def merge_items(items: pd.DataFrame, upserts: pd.DataFrame | None) -> tuple[pd.DataFrame, int]:
    """The prepared items plus announced ones (an announced text replaces the old one)."""
    if upserts is None or not len(upserts):
        return items, 0
    up = upserts[list(S.ITEM_COLUMNS)].drop_duplicates(S.ITEM_ID, keep="last")
    new = int((~up[S.ITEM_ID].astype(str).isin(items[S.ITEM_ID].astype(str))).sum())
    kept = items[~items[S.ITEM_ID].astype(str).isin(up[S.ITEM_ID].astype(str))]
    # an upsert does not know when the item was first seen: keep the earliest known
    first = items.set_index(S.ITEM_ID)[S.FIRST_SEEN] if S.FIRST_SEEN in items.columns else None
    up = up.copy()
    if first is not None:
        known = up[S.ITEM_ID].map(first)
        up[S.FIRST_SEEN] = known.where(known.notna(), up[S.FIRST_SEEN])
    return pd.concat([kept, up], ignore_index=True), new


def write_retrain_data(
    data_dir: Path, offline_dir: Path | None, out: Path, validation_days: int = 14, judge_days: float = 14.0
) -> MergeSummary:
    """Write ``out``/{events,items}.parquet + split.json: the prepared folder ``data_dir`` with the
    events appended under ``offline_dir``, the newest ``judge_days`` held out as the judge's slice
    (see the module docs)."""
    from offline.data.dataset import load_prepared
    from offline.data.split import SplitInfo

    prepared = load_prepared(data_dir)
    ingested, n_files = read_parts(Path(offline_dir) / INGESTED_EVENTS) if offline_dir else (None, 0)
    upserts, _ = read_parts(Path(offline_dir) / INGESTED_ITEMS) if offline_dir else (None, 0)
    events, dropped = merge_events(prepared.events, ingested)
    if offline_dir:  # users erased by `fulcrum forget` / ForgetUser never come back
        from fulcrum.core.forgotten import forgotten_mask, read_ledger

        ledger = read_ledger(Path(offline_dir))
        if ledger:
            keep = [not f for f in forgotten_mask(events[S.USER_ID].astype(str), ledger)]
            log.info("retrain data: %d events of forgotten users dropped", len(keep) - sum(keep))
            events = events[keep].reset_index(drop=True)
    items, new_items = merge_items(prepared.items, upserts)
    if events.empty:
        raise ValueError(f"{data_dir}: no train events to retrain on")
    last = events[S.TIMESTAMP].max()
    cutoff = last + pd.Timedelta(seconds=1) - pd.Timedelta(days=judge_days)
    events[S.SPLIT] = np.where(events[S.TIMESTAMP] < cutoff, "train", "test").astype(object)
    if not (events[S.SPLIT] == "train").any():
        raise ValueError(f"{data_dir}: every event is in the newest {judge_days:g} days (the judge's slice)")
    out.mkdir(parents=True, exist_ok=True)
    events.to_parquet(out / S.EVENTS_FILE, index=False)
    items.to_parquet(out / S.ITEMS_FILE, index=False)
    info = SplitInfo.for_time(
        f"{prepared.split.protocol}/retrain",
        cutoff,
        validation_days=validation_days,
        source=prepared.split.source,
        counts={"events": len(events), "ingested_events": 0 if ingested is None else len(ingested)},
    )
    info.write(out / S.SPLIT_FILE)
    summary = MergeSummary(
        prepared_train=int((prepared.events[S.SPLIT].astype(str) == "train").sum()),
        ingested=0 if ingested is None else len(ingested),
        ingested_files=n_files,
        merged=len(events),
        duplicates_dropped=dropped,
        first=events[S.TIMESTAMP].min(),
        last=last,
        new_items=new_items,
    )
    log.info("retrain data: %s", summary)
    return summary
