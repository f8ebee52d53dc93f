"""Batch feature tables from the prepared events: the parquet sources of the Feast repo.

- ``user_behaviour``: one snapshot row per (user, distinct event time), the state of
  ``fulcrum.core.user_state.fold_user_events`` after every event up to and including that time.
  The row's ``event_timestamp`` is that time, so Feast's point-in-time join gives a label at time
  t exactly the history before or at t - and materialisation gives each user's final state.
- ``item_stats``: one row per (item, day with events), the ``fulcrum.core.item_state`` rules
  computed vectorised, stamped at the END of the day (23:59:59.999999 UTC) because the popularity
  rank is taken over the whole catalogue at the end of that day; a label during that day sees the
  previous day's row, never a later count. The items table, when given, counts as one ITEM_UPSERT
  per item at its ``first_seen`` with its price (the catalogue entry).
- ``user_embedding``: empty until a model pushes embeddings (the schema is still written).
- ``item_embedding``: the bundle's item embeddings and texts when a bundle is given, else empty.

All functions are pure (frames in, frames out); ``write_sources`` does the I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from fulcrum.core import feature_names as fn
from fulcrum.core import schema as S
from fulcrum.core.user_state import BehaviourEvent, UserState, fold_user_events, user_state_to_row

_NS_PER_S = 1_000_000_000
_NS_PER_DAY = 86_400 * _NS_PER_S
ProgressFn = Callable[[int], None]


def _epoch_ns(ts: pd.Series) -> np.ndarray:
    t = pd.to_datetime(pd.Series(ts), utc=True).dt.tz_localize(None)
    return t.to_numpy(dtype="datetime64[ns]").view(np.int64)


def _ts_from_ns(ns: np.ndarray) -> pd.Series:
    return pd.Series(pd.to_datetime(np.asarray(ns, dtype=np.int64), unit="ns", utc=True))


def user_snapshots(events: pd.DataFrame, progress: ProgressFn | None = None) -> pd.DataFrame:
    """Snapshot rows of ``user_behaviour`` (columns: user_id, event_timestamp, *features)."""
    ev = events[events[S.EVENT_TYPE].isin(S.BEHAVIOUR_TYPES)]
    ev = ev[ev[S.USER_ID].notna() & (ev[S.USER_ID].astype(str) != "")]
    ns = _epoch_ns(ev[S.TIMESTAMP])
    # stable sort by (user, time): events at the same instant keep the table's order
    order = np.lexsort((ns, ev[S.USER_ID].astype(str).to_numpy()))
    users = ev[S.USER_ID].astype(str).to_numpy()[order]
    items = ev[S.ITEM_ID].astype(str).to_numpy()[order]
    types = ev[S.EVENT_TYPE].astype(str).to_numpy()[order]
    ns = ns[order]
    secs = ns / _NS_PER_S
    rows: list[dict] = []
    keys: list[str] = []
    stamps: list[int] = []
    # segment boundaries: a new user or a new instant
    n = len(users)
    cut = np.flatnonzero((users[1:] != users[:-1]) | (ns[1:] != ns[:-1])) + 1 if n else np.array([], int)
    starts = np.concatenate([[0], cut]) if n else np.array([], int)
    ends = np.concatenate([cut, [n]]) if n else np.array([], int)
    state, current = UserState(), None
    for k, (a, b) in enumerate(zip(starts, ends, strict=True)):
        if users[a] != current:
            state, current = UserState(), users[a]
        state = fold_user_events(
            state, [BehaviourEvent(items[i], types[i], float(secs[i])) for i in range(a, b)]
        )
        rows.append(user_state_to_row(state))
        keys.append(current)
        stamps.append(int(ns[a]))
        if progress is not None and k % 1000 == 999:
            progress(1000)
    if progress is not None and len(rows) % 1000:
        progress(len(rows) % 1000)
    out = pd.DataFrame(rows, columns=list(fn.USER_BEHAVIOUR_FEATURES))
    out.insert(0, fn.EVENT_TS, _ts_from_ns(np.asarray(stamps, dtype=np.int64)))
    out.insert(0, fn.USER_KEY, pd.Series(keys, dtype=object))
    for f in fn.COUNT_FEATURES:
        out[f] = out[f].astype("int64")
    return out


def _item_events(events: pd.DataFrame, items: pd.DataFrame | None) -> pd.DataFrame:
    ev = pd.DataFrame(
        {
            "item": events[S.ITEM_ID].astype(str).to_numpy(),
            "type": events[S.EVENT_TYPE].astype(str).to_numpy(),
            "ns": _epoch_ns(events[S.TIMESTAMP]),
            "price": pd.to_numeric(events[S.PRICE], errors="coerce").to_numpy(dtype=float)
            if S.PRICE in events.columns
            else np.nan,
        }
    )
    if items is not None and len(items):
        cat = items[items[S.FIRST_SEEN].notna()]
        ups = pd.DataFrame(
            {
                "item": cat[S.ITEM_ID].astype(str).to_numpy(),
                "type": S.EventType.ITEM_UPSERT.value,
                "ns": _epoch_ns(cat[S.FIRST_SEEN]),
                "price": pd.to_numeric(cat[S.PRICE], errors="coerce").to_numpy(dtype=float),
            }
        )
        ev = pd.concat([ups, ev], ignore_index=True)  # an upsert precedes same-instant events
    ev = ev[ev["type"].isin(S.EVENT_TYPES)]
    return ev.iloc[np.argsort(ev["ns"].to_numpy(), kind="stable")].reset_index(drop=True)


def popularity_ranks(counts: np.ndarray) -> np.ndarray:
    """Ranks of a [days, items] matrix of cumulative purchase counts, per day (row).

    1 = most purchased; ties broken by column order (items sorted by id); 0 = no purchase yet.
    """
    ranks = np.zeros(counts.shape, dtype=np.int64)
    for d in range(counts.shape[0]):
        order = np.argsort(-counts[d], kind="stable")
        ranks[d, order] = np.arange(1, counts.shape[1] + 1)
    ranks[counts <= 0] = 0
    return ranks


def item_snapshots(events: pd.DataFrame, items: pd.DataFrame | None = None) -> pd.DataFrame:
    """Daily snapshot rows of ``item_stats`` (columns: item_id, event_timestamp, *features)."""
    ev = _item_events(events, items)
    if ev.empty:
        return pd.DataFrame(columns=[fn.ITEM_KEY, fn.EVENT_TS, *fn.ITEM_STATS_FEATURES])
    ev["day"] = ev["ns"] // _NS_PER_DAY
    t = ev["type"]
    ev["p"] = (t == S.EventType.PURCHASE.value).astype(np.int64)
    ev["i"] = (t == S.EventType.IMPRESSION.value).astype(np.int64)
    ev["c"] = (t == S.EventType.CLICK.value).astype(np.int64)
    ev["x"] = (t == S.EventType.CANCEL.value).astype(np.int64)
    priced = t.isin([S.EventType.PURCHASE.value, S.EventType.ITEM_UPSERT.value]) & (ev["price"] > 0)
    ev["last_price"] = ev["price"].where(priced)
    g = ev.groupby(["item", "day"], sort=True)
    daily = g.agg(
        p=("p", "sum"),
        i=("i", "sum"),
        c=("c", "sum"),
        x=("x", "sum"),
        first=("ns", "min"),
        last_price=("last_price", "last"),
    )
    daily = daily.reset_index()
    per_item = daily.groupby("item", sort=False)
    cum = per_item[["p", "i", "c", "x"]].cumsum()
    first = per_item["first"].cummin()
    price = per_item["last_price"].ffill()
    # popularity rank at the end of each day, over every item seen so far
    item_ids = np.sort(daily["item"].unique())
    days = np.sort(daily["day"].unique())
    col = np.searchsorted(item_ids, daily["item"].to_numpy())
    row = np.searchsorted(days, daily["day"].to_numpy())
    mat = np.zeros((len(days), len(item_ids)), dtype=np.int64)
    np.add.at(mat, (row, col), daily["p"].to_numpy())
    ranks = popularity_ranks(np.cumsum(mat, axis=0))
    end_ns = (daily["day"].to_numpy() + 1) * _NS_PER_DAY - 1_000  # 23:59:59.999999
    purchases, cancels = cum["p"].to_numpy(), cum["x"].to_numpy()
    total = purchases + cancels
    out = pd.DataFrame(
        {
            fn.ITEM_KEY: daily["item"].to_numpy(),
            fn.EVENT_TS: _ts_from_ns(end_ns),
            fn.ITEM_AS_OF: end_ns / _NS_PER_S,
            fn.ITEM_PURCHASES: purchases.astype(np.int64),
            fn.ITEM_IMPRESSIONS: cum["i"].to_numpy(dtype=np.int64),
            fn.ITEM_CLICKS: cum["c"].to_numpy(dtype=np.int64),
            fn.ITEM_CANCELS: cancels.astype(np.int64),
            fn.ITEM_CANCEL_RATE: np.divide(cancels, total, out=np.zeros(len(total)), where=total > 0),
            fn.ITEM_PRICE: price.to_numpy(dtype=float),
            fn.ITEM_FIRST_SEEN: first.to_numpy(dtype=np.int64) / _NS_PER_S,
            fn.ITEM_POPULARITY_RANK: ranks[row, col],
        }
    )
    return out.sort_values([fn.EVENT_TS, fn.ITEM_KEY], kind="stable").reset_index(drop=True)


def user_embeddings_empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            fn.USER_KEY: pd.Series([], dtype=object),
            fn.EVENT_TS: pd.Series([], dtype="datetime64[ns, UTC]"),
            fn.USER_EMBEDDING: pd.Series([], dtype=object),
        }
    )


def item_embedding_rows(
    item_ids: list[str], texts: list[str], embeddings: np.ndarray | None, at: pd.Timestamp
) -> pd.DataFrame:
    """``item_embedding`` rows (all stamped ``at``); no embeddings -> an empty table."""
    if embeddings is None or not len(item_ids):
        return pd.DataFrame(
            {
                fn.ITEM_KEY: pd.Series([], dtype=object),
                fn.EVENT_TS: pd.Series([], dtype="datetime64[ns, UTC]"),
                fn.ITEM_EMBEDDING: pd.Series([], dtype=object),
                fn.ITEM_TEXT: pd.Series([], dtype=object),
            }
        )
    emb = np.asarray(embeddings, dtype=np.float32)
    if emb.shape[0] != len(item_ids):
        raise ValueError(f"item embeddings: {emb.shape[0]} rows for {len(item_ids)} items")
    return pd.DataFrame(
        {
            fn.ITEM_KEY: list(item_ids),
            fn.EVENT_TS: pd.Series([pd.Timestamp(at).tz_convert("UTC")] * len(item_ids)),
            fn.ITEM_EMBEDDING: [e.tolist() for e in emb],
            fn.ITEM_TEXT: list(texts),
        }
    )


def write_parquet(frame: pd.DataFrame, view: str, data_dir: Path) -> Path:
    """Write ``frame`` as the batch source of ``view`` (list columns typed for Feast)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    list_types = {
        fn.RECENT_ITEMS: pa.list_(pa.string()),
        fn.RECENT_TYPES: pa.list_(pa.string()),
        fn.RECENT_TIMES: pa.list_(pa.float64()),
        fn.BOUGHT: pa.list_(pa.string()),
        fn.BOUGHT_TIMES: pa.list_(pa.float64()),
        fn.CANCELLED: pa.list_(pa.string()),
        fn.CANCELLED_TIMES: pa.list_(pa.float64()),
        fn.DISLIKED: pa.list_(pa.string()),
        fn.DISLIKED_TIMES: pa.list_(pa.float64()),
        fn.USER_EMBEDDING: pa.list_(pa.float32()),
        fn.ITEM_EMBEDDING: pa.list_(pa.float32()),
    }
    fields = []
    for name in frame.columns:
        if name in list_types:
            fields.append(pa.field(name, list_types[name]))
        elif name == fn.EVENT_TS:
            fields.append(pa.field(name, pa.timestamp("us", tz="UTC")))
        elif name in (fn.USER_KEY, fn.ITEM_KEY, fn.DAILY_COUNTS, fn.IGNORED, fn.ITEM_TEXT):
            fields.append(pa.field(name, pa.string()))
        else:
            fields.append(pa.field(name, pa.from_numpy_dtype(frame[name].dtype)))
    table = pa.Table.from_pandas(frame, schema=pa.schema(fields), preserve_index=False)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / fn.batch_file_name(view)
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)
    return path
