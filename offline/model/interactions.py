"""The prepared data as compact arrays for the retrieval model.

Reads a prepared folder (``events.parquet``, ``items.parquet``; see fulcrum.core.schema) and keeps
the TRAIN split's behaviour events sorted by (user, time) with per-user offsets, which makes
point-in-time histories a slice. Test events are kept aside for evaluation only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fulcrum.core import schema as S
from fulcrum.core.bundle_format import sha256_file

_PURCHASE = S.EventType.PURCHASE.value
_CANCEL = S.EventType.CANCEL.value
_IMPRESSION = S.EventType.IMPRESSION.value
PURCHASE_CODE = S.EVENT_TYPE_CODE[_PURCHASE]


class MissingDataError(FileNotFoundError):
    """The prepared data folder or one of its files is missing."""


@dataclass(frozen=True)
class Interactions:
    items: pd.DataFrame  # the catalogue, row i <-> item index i
    item_texts: list[str]
    user_ids: np.ndarray  # [U] user id strings
    ev_item: np.ndarray  # [E] int64 item index, train events sorted by (user, time)
    ev_type: np.ndarray  # [E] int64 EVENT_TYPE_CODE
    ev_time: np.ndarray  # [E] float64 epoch seconds
    user_start: np.ndarray  # [U + 1] offsets into the event arrays
    train_end: float  # epoch seconds: first instant after the train split
    test: pd.DataFrame  # test events: user_id, item_id, event_type, t (epoch s)
    fingerprint: str  # sha256 of events.parquet

    @property
    def n_items(self) -> int:
        return len(self.items)

    def user_slice(self, u: int) -> slice:
        return slice(int(self.user_start[u]), int(self.user_start[u + 1]))


def _epoch(ts: pd.Series) -> np.ndarray:
    t = pd.to_datetime(ts, utc=True)
    return (t - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(np.float64)


def load_interactions(data_dir: str | Path) -> Interactions:
    data_dir = Path(data_dir)
    ev_path, it_path = data_dir / S.EVENTS_FILE, data_dir / S.ITEMS_FILE
    for p in (ev_path, it_path):
        if not p.is_file():
            raise MissingDataError(f"{p}: not found (run `fulcrum data prepare --out {data_dir}` first)")
    events = pd.read_parquet(ev_path, columns=[S.USER_ID, S.ITEM_ID, S.EVENT_TYPE, S.TIMESTAMP, S.SPLIT])
    items = pd.read_parquet(it_path)
    missing = [c for c in (S.ITEM_ID, S.ITEM_TEXT) if c not in items.columns]
    if missing:
        raise MissingDataError(f"{it_path}: missing columns {missing}")
    items = items.drop_duplicates(S.ITEM_ID).reset_index(drop=True)
    # events may mention items absent from the catalogue: add them with empty text
    extra = np.setdiff1d(events[S.ITEM_ID].astype(str).unique(), items[S.ITEM_ID].astype(str).to_numpy())
    if len(extra):
        items = pd.concat([items, pd.DataFrame({S.ITEM_ID: extra, S.ITEM_TEXT: ""})], ignore_index=True)
    items[S.ITEM_ID] = items[S.ITEM_ID].astype(str)
    item_index = pd.Index(items[S.ITEM_ID])

    events = events[events[S.USER_ID].notna() & events[S.EVENT_TYPE].isin(list(S.EVENT_TYPE_CODE))]
    events = events.assign(t=_epoch(events[S.TIMESTAMP]), **{S.USER_ID: events[S.USER_ID].astype(str)})
    is_train = events[S.SPLIT].astype(str) == "train"
    train = events[is_train].sort_values([S.USER_ID, "t"], kind="stable")
    test = events[~is_train][[S.USER_ID, S.ITEM_ID, S.EVENT_TYPE, "t"]].reset_index(drop=True)
    if train.empty:
        raise MissingDataError(f"{ev_path}: no train events")
    users, first = np.unique(train[S.USER_ID].to_numpy(), return_index=True)
    user_start = np.append(first, len(train)).astype(np.int64)
    train_end = float(test["t"].min()) if len(test) else float(train["t"].max()) + 1.0
    return Interactions(
        items=items,
        item_texts=items[S.ITEM_TEXT].fillna("").astype(str).tolist(),
        user_ids=users,
        ev_item=item_index.get_indexer(train[S.ITEM_ID].astype(str)).astype(np.int64),
        ev_type=train[S.EVENT_TYPE].map(S.EVENT_TYPE_CODE).to_numpy(np.int64),
        ev_time=train["t"].to_numpy(np.float64),
        user_start=user_start,
        train_end=train_end,
        test=test,
        fingerprint=sha256_file(ev_path),
    )


def item_stats(inter: Interactions) -> pd.DataFrame:
    """The bundle's items table: item_id, text, price, first_seen, purchases, impressions,
    cancel_rate, popularity_rank (0 = most purchased) from TRAIN events."""
    n = inter.n_items
    code = inter.ev_type
    purchases = np.bincount(inter.ev_item[code == PURCHASE_CODE], minlength=n).astype(np.float64)
    cancels = np.bincount(inter.ev_item[code == S.EVENT_TYPE_CODE[_CANCEL]], minlength=n).astype(np.float64)
    impressions = np.bincount(inter.ev_item[code == S.EVENT_TYPE_CODE[_IMPRESSION]], minlength=n)
    order = np.argsort(-purchases, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    it = inter.items
    first_seen = it[S.FIRST_SEEN] if S.FIRST_SEEN in it.columns else pd.Series([pd.NaT] * n)
    return pd.DataFrame(
        {
            S.ITEM_ID: it[S.ITEM_ID].astype(str).to_numpy(),
            S.ITEM_TEXT: inter.item_texts,
            S.PRICE: pd.to_numeric(it[S.PRICE], errors="coerce").fillna(0.0).to_numpy()
            if S.PRICE in it.columns
            else np.zeros(n),
            S.FIRST_SEEN: pd.to_datetime(first_seen, utc=True).to_numpy(),
            "purchases": purchases,
            "impressions": impressions.astype(np.float64),
            "cancel_rate": cancels / (purchases + 1.0),
            "popularity_rank": rank,
        }
    )
