"""Rows of the purchase-given-interaction task: will the user buy the item they just looked at?

A multi-behaviour shop (views, clicks, add-to-cart, purchases) has a real minority outcome for the
ranking head: most interactions never end in a purchase (on the Taobao sample about 2 % do within
a day). Defined on the generic events table only:

- **Rows.** Every VIEW, CLICK or ADD_TO_CART event (user u, item i, time t) of a known user with
  start <= t < end is a row (the same u, i, t and type collapse to one).
- **Label.** 1 when u has a PURCHASE of i at a time c with t <= c <= t + ``window_days`` and
  c < ``horizon`` (the end of the slice's observable period, so a fit row is never labelled by a
  purchase inside the validation or test period); 0 otherwise.
- **Features.** The head's own ``rank_features`` vector (``offline.ranking.history``: the user's
  profile strictly before t, item statistics of the days before t's day, retrieval score 0), then
  ``INTERACTION_FEATURES``, the context of the interaction itself: its type (one-hot) and the
  user's earlier interactions with the item (counted strictly before t).

Shops without such interactions (a purchase log such as Online Retail) have no rows: the caller
says so and names the task that fits them (the cancellation head).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fulcrum.core import schema as S
from fulcrum.core.rank_features import N_RANK_FEATURES
from offline.ranking.history import build_rank_rows
from offline.ranking.labels import DAY_S, epoch_seconds
from offline.ranking.rows import RankRows

INTERACTION_TYPES: tuple[str, ...] = (
    S.EventType.VIEW.value,
    S.EventType.CLICK.value,
    S.EventType.ADD_TO_CART.value,
)
INTERACTION_FEATURES: tuple[str, ...] = (
    "interaction_is_view",
    "interaction_is_click",
    "interaction_is_cart",
    "log_user_item_interactions_before",  # log1p(earlier VIEW/CLICK/ADD_TO_CART of this item)
    "user_carted_item_before",  # 1 if an earlier ADD_TO_CART of this item by the user
)


def _interactions(events: pd.DataFrame) -> pd.DataFrame:
    """Known users' interaction events with the counts of their earlier ones (same user and item)."""
    e = events[events[S.USER_ID].notna() & events[S.EVENT_TYPE].isin(INTERACTION_TYPES)]
    frame = pd.DataFrame(
        {
            "user_id": e[S.USER_ID].astype(str).to_numpy(),
            "item_id": e[S.ITEM_ID].astype(str).to_numpy(),
            "ts": epoch_seconds(e[S.TIMESTAMP]),
            "event_type": e[S.EVENT_TYPE].astype(str).to_numpy(),
        }
    ).drop_duplicates(["user_id", "item_id", "ts", "event_type"])
    frame = frame.sort_values(["user_id", "item_id", "ts"], kind="stable").reset_index(drop=True)
    key = [frame["user_id"], frame["item_id"]]
    # earlier = strictly before t: events at the same second do not count each other
    n_upto = frame.groupby(key + [frame["ts"]]).cumcount().to_numpy()
    frame["before"] = frame.groupby(key).cumcount().to_numpy() - n_upto
    is_cart = (frame["event_type"] == S.EventType.ADD_TO_CART.value).astype(np.int64)
    carts_upto = is_cart.groupby(key).cumsum().to_numpy()
    carts_same_ts = is_cart.groupby(key + [frame["ts"]]).cumsum().to_numpy()
    frame["carted_before"] = (carts_upto - carts_same_ts) > 0
    return frame


def purchase_labels(
    rows: pd.DataFrame, events: pd.DataFrame, window_days: float, horizon: float
) -> np.ndarray:
    """int8 [len(rows)]: 1 if the user bought the row's item within ``window_days`` of its time
    (at or after it) and before ``horizon``."""
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int8)
    b = events[(events[S.EVENT_TYPE] == S.EventType.PURCHASE.value) & events[S.USER_ID].notna()]
    buys = pd.DataFrame(
        {
            "user_id": b[S.USER_ID].astype(str).to_numpy(),
            "item_id": b[S.ITEM_ID].astype(str).to_numpy(),
            "buy_ts": epoch_seconds(b[S.TIMESTAMP]),
        }
    )
    buys = buys[buys["buy_ts"] < horizon].sort_values("buy_ts", kind="stable")
    left = rows[["user_id", "item_id", "ts"]].reset_index().sort_values("ts", kind="stable")
    merged = pd.merge_asof(
        left, buys, left_on="ts", right_on="buy_ts", by=["user_id", "item_id"], direction="forward"
    )
    hit = merged["buy_ts"].notna() & (merged["buy_ts"] - merged["ts"] <= window_days * DAY_S)
    out = np.zeros(len(rows), dtype=np.int8)
    out[merged["index"].to_numpy()] = hit.to_numpy().astype(np.int8)
    return out


def interaction_label_rows(
    events: pd.DataFrame, items: pd.DataFrame, start: float, end: float, horizon: float, window_days: float
) -> pd.DataFrame:
    """The slice's rows (user_id, item_id, ts, event_type, before, carted_before, purchase,
    cancel = -1), sorted by user then time; items outside the items table are left out."""
    frame = _interactions(events)
    known = frame["item_id"].isin(set(items[S.ITEM_ID].astype(str)))
    frame = frame[known & (frame["ts"] >= start) & (frame["ts"] < end)].reset_index(drop=True)
    frame["purchase"] = purchase_labels(frame, events, window_days, horizon)
    frame["cancel"] = np.int8(-1)
    return frame.sort_values(["user_id", "ts", "item_id"], kind="stable").reset_index(drop=True)


def context_features(rows: pd.DataFrame) -> np.ndarray:
    """float32 [len(rows), len(INTERACTION_FEATURES)] in that order."""
    kind = rows["event_type"].to_numpy()
    return np.column_stack(
        [
            kind == S.EventType.VIEW.value,
            kind == S.EventType.CLICK.value,
            kind == S.EventType.ADD_TO_CART.value,
            np.log1p(rows["before"].to_numpy(dtype=np.float64)),
            rows["carted_before"].to_numpy(),
        ]
    ).astype(np.float32)


def build_interaction_rows(
    seen: pd.DataFrame, items: pd.DataFrame, start: float, end: float, horizon: float, window_days: float
) -> RankRows:
    """``RankRows`` of the task: x = rank_features + INTERACTION_FEATURES, purchase = the label."""
    rows = interaction_label_rows(seen, items, start, end, horizon, window_days)
    if len(rows) == 0:
        width = N_RANK_FEATURES + len(INTERACTION_FEATURES)
        return RankRows(np.zeros((0, width), np.float32), np.zeros(0, np.int8), np.zeros(0, np.int8),
                        np.zeros(0, bool))
    head = build_rank_rows(seen, items, rows)
    return RankRows(
        np.concatenate([head.x, context_features(rows)], axis=1),
        head.purchase,
        head.cancel,
        head.user_cold,
    )
