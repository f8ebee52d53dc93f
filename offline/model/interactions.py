"""The prepared data as compact arrays for the retrieval model.

Reads a prepared folder (``events.parquet``, ``items.parquet``; see fulcrum.core.schema) and keeps
the TRAIN split's behaviour events sorted by (user, time) with per-user offsets, which makes
point-in-time histories a slice. Impressions are left out of those arrays (counted per item):
a history is what serving's profile holds (``fulcrum.core.user_state``'s recent sequence, every
behaviour but impressions). Test events are kept aside for evaluation only.
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


_DAY = 86_400.0


def last_basket_cuts(
    ev_user: np.ndarray, ev_type: np.ndarray, ev_time: np.ndarray, n_users: int
) -> np.ndarray:
    """[n_users] time of each user's last purchase moment, for users who purchased at two or
    more distinct moments; ``inf`` for everyone else (the leave-last-out rule)."""
    out = np.full(n_users, np.inf)
    p = ev_type == PURCHASE_CODE
    if not p.any():
        return out
    pairs = np.unique(np.stack([ev_user[p].astype(np.float64), ev_time[p]]), axis=1)
    users, moments = pairs[0].astype(np.int64), pairs[1]
    n_moments = np.bincount(users, minlength=n_users)
    last = np.full(n_users, -np.inf)
    np.maximum.at(last, users, moments)
    ok = n_moments >= 2
    out[ok] = last[ok]
    return out


def per_event(inter: Interactions, cut: float | np.ndarray) -> np.ndarray | float:
    """A cut given per user ([U] array) as one threshold per train event ([E]); a scalar stays."""
    if np.ndim(cut) == 0:
        return float(cut)
    return np.asarray(cut, dtype=np.float64)[inter.ev_user]


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
    #: epoch seconds, the training cut: every train event is before it (time split: the cut-off;
    #: leave-last-out: one second after the last train event)
    train_end: float
    test: pd.DataFrame  # test events: user_id, item_id, event_type, t (epoch s)
    fingerprint: str  # sha256 of events.parquet
    #: the prepared split's kind (offline.data.split): "time" or "leave-last-out"
    split_kind: str = "time"
    #: [U] epoch seconds from which each user's test events start (time split: the cut-off for
    #: everyone; leave-last-out: the user's held-out basket, ``train_end`` for users without one)
    test_at: np.ndarray | None = None
    #: [N] train IMPRESSION events per item (impressions are not in the event arrays: serving's
    #: recent sequence, what the user tower sees, holds every behaviour but impressions)
    impressions: np.ndarray | None = None

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def ev_user(self) -> np.ndarray:
        """[E] user index of every train event."""
        return np.repeat(np.arange(len(self.user_ids)), np.diff(self.user_start))

    def user_slice(self, u: int) -> slice:
        return slice(int(self.user_start[u]), int(self.user_start[u + 1]))

    def validation_cuts(self, days: float) -> np.ndarray:
        """[U] epoch seconds where each user's validation slice starts (``inf`` = no validation
        events for that user): the same rule as ``PreparedData.validation_split``.

        time split: the last ``days`` of train for everyone; leave-last-out: each user's last
        train purchase moment when they purchased at two or more moments in train (their last
        train basket), so every user with a history of their own contributes, whatever the dates.
        """
        n = len(self.user_ids)
        if self.split_kind != "leave-last-out":
            return np.full(n, self.train_end - days * _DAY)
        return last_basket_cuts(self.ev_user, self.ev_type, self.ev_time, n)


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
    kind, cutoff = _split_kind(data_dir)
    items = pd.read_parquet(it_path)
    missing = [c for c in (S.ITEM_ID, S.ITEM_TEXT) if c not in items.columns]
    if missing:
        raise MissingDataError(f"{it_path}: missing columns {missing}")
    items = items.drop_duplicates(S.ITEM_ID).reset_index(drop=True)
    # events may mention items absent from the catalogue: add them with empty text
    # (a hash-based set difference: numpy's on object arrays is quadratic, minutes at 50k items)
    known = pd.Index(items[S.ITEM_ID].astype(str))
    extra = pd.Index(events[S.ITEM_ID].astype(str).unique()).difference(known).to_numpy(dtype=object)
    if len(extra):
        items = pd.concat([items, pd.DataFrame({S.ITEM_ID: extra, S.ITEM_TEXT: ""})], ignore_index=True)
    items[S.ITEM_ID] = items[S.ITEM_ID].astype(str)
    item_index = pd.Index(items[S.ITEM_ID])

    events = events[events[S.USER_ID].notna() & events[S.EVENT_TYPE].isin(list(S.EVENT_TYPE_CODE))]
    events = events.assign(t=_epoch(events[S.TIMESTAMP]), **{S.USER_ID: events[S.USER_ID].astype(str)})
    is_train = events[S.SPLIT].astype(str) == "train"
    train = events[is_train]
    # histories hold what serving's profile holds (fulcrum.core.user_state: every behaviour but
    # impressions); impressions only count, per item, for the item statistics
    shown = (train[S.EVENT_TYPE] == _IMPRESSION).to_numpy()
    impressions = np.bincount(
        item_index.get_indexer(train.loc[shown, S.ITEM_ID].astype(str)), minlength=len(item_index)
    )
    train = train[~shown].sort_values([S.USER_ID, "t"], kind="stable")
    test = events[~is_train][[S.USER_ID, S.ITEM_ID, S.EVENT_TYPE, "t"]].reset_index(drop=True)
    if train.empty:
        raise MissingDataError(f"{ev_path}: no train events")
    users, first = np.unique(train[S.USER_ID].to_numpy(), return_index=True)
    user_start = np.append(first, len(train)).astype(np.int64)
    if kind == "time" and cutoff is not None:
        train_end = cutoff
    elif kind == "time":
        train_end = float(test["t"].min()) if len(test) else float(train["t"].max()) + 1.0
    else:  # leave-last-out: the model has seen everything up to its last train event
        train_end = float(train["t"].max()) + 1.0
    first_test = test.groupby(S.USER_ID)["t"].min()
    test_at = pd.Series(users).map(first_test).fillna(train_end).to_numpy(np.float64)
    if kind == "time":
        test_at = np.full(len(users), train_end)
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
        split_kind=kind,
        test_at=test_at,
        impressions=impressions.astype(np.int64),
    )


def _split_kind(data_dir: Path) -> tuple[str, float | None]:
    """(kind, cut-off epoch seconds or None) from split.json; a folder without one is a time split
    whose cut is the first test event (older prepared folders and hand-made fixtures)."""
    import json

    path = data_dir / S.SPLIT_FILE
    if not path.is_file():
        return "time", None
    raw = json.loads(path.read_text())
    kind = str(raw.get("kind", "time"))
    cut = raw.get("cutoff")
    if not cut:
        return kind, None
    ts = pd.Timestamp(cut)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return kind, (ts - pd.Timestamp(0, tz="UTC")).total_seconds()


def item_stats(inter: Interactions) -> pd.DataFrame:
    """The bundle's items table: item_id, text, price, first_seen, purchases, impressions,
    cancel_rate, popularity_rank (0 = most purchased) from TRAIN events."""
    n = inter.n_items
    code = inter.ev_type
    purchases = np.bincount(inter.ev_item[code == PURCHASE_CODE], minlength=n).astype(np.float64)
    cancels = np.bincount(inter.ev_item[code == S.EVENT_TYPE_CODE[_CANCEL]], minlength=n).astype(np.float64)
    impressions = (
        inter.impressions
        if inter.impressions is not None
        else np.bincount(inter.ev_item[code == S.EVENT_TYPE_CODE[_IMPRESSION]], minlength=n)
    )
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
