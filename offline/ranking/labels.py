"""Label rows of the ranking head, defined on the generic events table only.

- **Purchase propensity.** Every PURCHASE event (user u, item i, time t) in a window is a positive
  row (u, i, t) (duplicates of the same triple collapse). For each positive, ``k`` negatives
  (u, j, t) are drawn from the catalogue as it stood before t (items first seen before t, not
  bought by u at t): half uniformly, half in proportion to the item's purchases so far, a crude
  stand-in for the retrieval candidates the head re-scores online.
- **Cancellation risk** (purchased lines only). cancel = 1 when the same user has a CANCEL event
  for the same item at a time c with t < c <= t + window_days and c < horizon (the end of the
  slice's observable period: events past the train cut-off never label train rows). Negatives
  carry cancel = -1 (not applicable).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fulcrum.core import schema as S

DAY_S = 86_400.0
LABEL_COLUMNS = ("user_id", "item_id", "ts", "purchase", "cancel")


def epoch_seconds(ts: pd.Series) -> np.ndarray:
    t = pd.to_datetime(ts, utc=True)
    return (t - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=np.float64)


def user_item_times(
    events: pd.DataFrame, index, kind: pd.Series
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user index, item row, epoch seconds) of the ``kind`` events (a boolean mask over
    ``events``) of known users, for items in ``index`` (item id -> row); users numbered in order
    of first appearance."""
    p = events[kind & events[S.USER_ID].notna()]
    rows = p[S.ITEM_ID].astype(str).map(index).to_numpy(dtype=np.float64)
    keep = ~np.isnan(rows)
    users = pd.factorize(p[S.USER_ID].astype(str).to_numpy()[keep])[0].astype(np.int64)
    return users, rows[keep].astype(np.int64), epoch_seconds(p[S.TIMESTAMP])[keep]


def positive_rows(events: pd.DataFrame, start: float, end: float) -> pd.DataFrame:
    """PURCHASE (user, item, ts) rows with start <= ts < end (epoch seconds), known users only."""
    e = events[(events[S.EVENT_TYPE] == S.EventType.PURCHASE.value) & events[S.USER_ID].notna()]
    ts = epoch_seconds(e[S.TIMESTAMP])
    keep = (ts >= start) & (ts < end)
    out = pd.DataFrame(
        {
            "user_id": e[S.USER_ID].astype(str).to_numpy()[keep],
            "item_id": e[S.ITEM_ID].astype(str).to_numpy()[keep],
            "ts": ts[keep],
        }
    )
    return (
        out.drop_duplicates(["user_id", "item_id", "ts"])
        .sort_values(["ts", "user_id", "item_id"], kind="stable")
        .reset_index(drop=True)
    )


def cancel_labels(
    positives: pd.DataFrame, events: pd.DataFrame, window_days: float, horizon: float
) -> np.ndarray:
    """int8 [len(positives)]: 1 if the user cancelled the item within ``window_days`` after buying it."""
    if len(positives) == 0:
        return np.zeros(0, dtype=np.int8)
    c = events[(events[S.EVENT_TYPE] == S.EventType.CANCEL.value) & events[S.USER_ID].notna()]
    cancels = pd.DataFrame(
        {
            "user_id": c[S.USER_ID].astype(str).to_numpy(),
            "item_id": c[S.ITEM_ID].astype(str).to_numpy(),
            "cancel_ts": epoch_seconds(c[S.TIMESTAMP]),
        }
    )
    cancels = cancels[cancels["cancel_ts"] < horizon].sort_values("cancel_ts", kind="stable")
    left = positives[["user_id", "item_id", "ts"]].reset_index().sort_values("ts", kind="stable")
    # the first CANCEL strictly after the purchase, same user and item
    merged = pd.merge_asof(
        left,
        cancels,
        left_on="ts",
        right_on="cancel_ts",
        by=["user_id", "item_id"],
        direction="forward",
        allow_exact_matches=False,
    )
    hit = merged["cancel_ts"].notna() & (merged["cancel_ts"] - merged["ts"] <= window_days * DAY_S)
    out = np.zeros(len(positives), dtype=np.int8)
    out[merged["index"].to_numpy()] = hit.to_numpy().astype(np.int8)
    return out


def sample_negatives(
    positives: pd.DataFrame,
    item_ids: np.ndarray,
    first_seen: np.ndarray,
    purchase_times: np.ndarray,
    purchase_items: np.ndarray,
    k: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """``k`` negatives per positive row (see the module doc). ``purchase_times``/``purchase_items``
    are every PURCHASE event's epoch seconds and catalogue index, for the popularity half."""
    if len(positives) == 0 or k < 1:
        return pd.DataFrame({c: [] for c in ("user_id", "item_id", "ts")})
    order = np.argsort(first_seen, kind="stable")  # candidates available before t: a prefix of this order
    fs_sorted = np.nan_to_num(first_seen[order], nan=np.inf)
    p_order = np.argsort(purchase_times, kind="stable")
    p_times, p_items = purchase_times[p_order], purchase_items[p_order]
    bought_at = set(zip(positives["user_id"], positives["item_id"], positives["ts"], strict=True))
    users, times = positives["user_id"].to_numpy(), positives["ts"].to_numpy()
    rows_u, rows_i, rows_t = [], [], []
    n_pop = (k + 1) // 2
    for t in np.unique(times):
        sel = np.flatnonzero(times == t)
        n_avail = int(np.searchsorted(fs_sorted, t, side="left"))
        if n_avail == 0:
            continue
        m = len(sel) * k
        uni = order[rng.integers(0, n_avail, size=m)]
        n_past = int(np.searchsorted(p_times, t, side="left"))
        if n_past and n_pop:
            pop = p_items[rng.integers(0, n_past, size=m)]  # a past purchase event: item ~ its count
            use_pop = (np.arange(m) % k) < n_pop
            uni = np.where(use_pop, pop, uni)
        for r, j in zip(np.repeat(sel, k), uni, strict=True):
            item = item_ids[j]
            if (users[r], item, t) in bought_at:
                continue
            rows_u.append(users[r])
            rows_i.append(item)
            rows_t.append(t)
    return pd.DataFrame({"user_id": rows_u, "item_id": rows_i, "ts": np.asarray(rows_t, dtype=np.float64)})


def label_rows(
    events: pd.DataFrame,
    items: pd.DataFrame,
    start: float,
    end: float,
    horizon: float,
    neg_per_pos: int,
    window_days: float,
    rng: np.random.Generator,
    positive_events: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The slice's rows: positives (purchase 1, cancel 0/1) and sampled negatives (0, -1).

    Positives are the PURCHASE events of ``positive_events`` (default ``events``) in [start, end);
    cancellations and the popularity of negatives come from ``events`` (what the slice may see).
    A leave-last-out slice passes its held-out baskets as ``positive_events``."""
    pos = positive_rows(events if positive_events is None else positive_events, start, end)
    pos["purchase"] = np.int8(1)
    pos["cancel"] = cancel_labels(pos, events, window_days, horizon)
    item_ids = items[S.ITEM_ID].astype(str).to_numpy()
    first_seen = epoch_seconds(items[S.FIRST_SEEN])
    index = {item: i for i, item in enumerate(item_ids)}
    buys = events[events[S.EVENT_TYPE] == S.EventType.PURCHASE.value]
    b_items = buys[S.ITEM_ID].astype(str).map(index)
    known = b_items.notna().to_numpy()
    neg = sample_negatives(
        pos,
        item_ids,
        first_seen,
        epoch_seconds(buys[S.TIMESTAMP])[known],
        b_items.to_numpy()[known].astype(np.int64),
        neg_per_pos,
        rng,
    )
    neg["purchase"] = np.int8(0)
    neg["cancel"] = np.int8(-1)
    rows = pd.concat([pos, neg], ignore_index=True)
    rows["purchase"] = rows["purchase"].astype(np.int8)
    rows["cancel"] = rows["cancel"].astype(np.int8)
    return rows.sort_values(
        ["user_id", "ts", "purchase"], ascending=[True, True, False], kind="stable"
    ).reset_index(drop=True)
