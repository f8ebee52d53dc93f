"""Source-independent end of `fulcrum data prepare`: split, count, write the prepared folder."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from fulcrum.core import schema as S
from offline.data.dataset import PreparedData
from offline.data.report import CleaningReport
from offline.data.split import (
    LEAVE_LAST_OUT,
    TIME,
    VALIDATION_DAYS,
    SplitInfo,
    leave_last_out_split,
    time_split,
)
from offline.eval.protocol import build_protocol

_EVENT_DTYPES = {
    S.EVENT_ID: str, S.USER_ID: str, S.ITEM_ID: str, S.EVENT_TYPE: str,
    S.QUANTITY: "float64", S.PRICE: "float64", S.SESSION_ID: str, S.SPLIT: str,
}


def _counts(prepared: PreparedData) -> dict[str, int]:
    events = prepared.events
    purchases = prepared.purchases()
    train, test = prepared.train_purchases(), prepared.test_purchases()
    protocol = build_protocol(train, test)
    val = prepared.validation_split()
    val_protocol = build_protocol(val.train_purchases(), val.test_purchases())
    return {
        "events": len(events),
        "purchase_rows": len(purchases),
        "cancel_rows": int((events[S.EVENT_TYPE] == S.EventType.CANCEL.value).sum()),
        "users": int(purchases[S.USER_ID].nunique()),
        "items": int(purchases[S.ITEM_ID].nunique()),
        "items_table": len(prepared.items),
        "train_purchase_rows": len(train),
        "test_purchase_rows": len(test),
        "train_users": int(train[S.USER_ID].nunique()),
        "test_users": int(test[S.USER_ID].nunique()),
        "train_items": int(train[S.ITEM_ID].nunique()),
        "warm_test_users": len(protocol.warm_users),
        "cold_test_users": len(protocol.cold_users),
        "validation_warm_users": len(val_protocol.warm_users),
        "validation_cold_users": len(val_protocol.cold_users),
    }


def finalize(
    events: pd.DataFrame,
    items: pd.DataFrame,
    report: CleaningReport,
    split_kind: str,
    protocol: str,
    cutoff: pd.Timestamp | str | None = None,
    reference: dict | None = None,
    validation_days: int = VALIDATION_DAYS,
) -> PreparedData:
    """Assign the split column, order and type the tables, and describe the split with counts."""
    events = events.sort_values([S.TIMESTAMP, S.EVENT_ID], kind="stable").reset_index(drop=True)
    if split_kind == TIME:
        if cutoff is None:
            raise ValueError("cutoff: required for a time split")
        events[S.SPLIT] = time_split(events[S.TIMESTAMP], cutoff)
        info = SplitInfo.for_time(protocol, cutoff, source=report.source, validation_days=validation_days)
    elif split_kind == LEAVE_LAST_OUT:
        events[S.SPLIT] = leave_last_out_split(events)
        info = SplitInfo(protocol=protocol, kind=LEAVE_LAST_OUT, source=report.source)
    else:
        raise ValueError(f"split: {split_kind!r} is not one of ('{TIME}', '{LEAVE_LAST_OUT}')")
    events = events.astype(_EVENT_DTYPES)[list(S.EVENT_COLUMNS)]
    items = items[list(S.ITEM_COLUMNS)].reset_index(drop=True)
    report.events_by_type = {k: int(v) for k, v in events[S.EVENT_TYPE].value_counts().sort_index().items()}
    report.items_written = len(items)
    draft = PreparedData(events=events, items=items, split=info)
    counts = _counts(draft)
    info = SplitInfo(
        protocol=info.protocol, kind=info.kind, cutoff=info.cutoff, validation_start=info.validation_start,
        validation_days=info.validation_days, source=info.source, counts=counts,
        reference=dict(reference or {}), cleaning=report.as_dict(),
    )
    return PreparedData(events=events, items=items, split=info)


def write_prepared(prepared: PreparedData, out_dir: str | Path) -> Path:
    """Write events.parquet, items.parquet and split.json into ``out_dir`` (created)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # each file is written beside its final name and renamed into place, so a reader never sees
    # a half-written file (others may be reading the folder while it is re-prepared)
    for name, write in (
        (S.EVENTS_FILE, lambda p: prepared.events.to_parquet(p, index=False)),
        (S.ITEMS_FILE, lambda p: prepared.items.to_parquet(p, index=False)),
        (S.SPLIT_FILE, prepared.split.write),
    ):
        partial = out / f".{name}.partial"
        write(partial)
        os.replace(partial, out / name)
    return out
