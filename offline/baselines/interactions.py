"""What the baselines learn from: user × item counts, plus the same events in time.

Generic schema only. Two signals (``SIGNALS``):

- ``purchases``: purchase events only (the OR-temporal reference figures);
- ``interactions``: every positive behaviour event -- views, clicks, carts, purchases, any newer
  positive type -- but not cancellations, dislikes or impressions. On a multi-behaviour shop
  (mostly views, few purchases) this is what makes a baseline strong; on a purchase log it is
  the same as ``purchases``.

``counts`` (events per user-item pair) serves the count-based models (popularity, item-kNN,
ALS, BPR); ``ev_user`` / ``ev_item`` / ``ev_time`` (one row per event, sorted by user then time)
serve the models that need order or recency (SASRec, zero-shot text); ``ev_purchase`` marks the
purchases among them (the trend prior counts buyers, as Fulcrum's does), ``ev_type`` their
behaviour types (the graded repurchase baseline weighs carts above views), and ``cuts`` says
when each user is evaluated (``offline.eval.slices.user_cuts``; one shared cut on a time split,
one per user on leave-last-out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from fulcrum.core import schema as S
from offline.eval.slices import Cuts

SIGNALS = ("purchases", "interactions")
#: behaviour types that say nothing positive about the item
NOT_POSITIVE = frozenset({S.EventType.CANCEL.value, S.EventType.DISLIKE.value, S.EventType.IMPRESSION.value,
                          S.EventType.ITEM_UPSERT.value})


@dataclass(frozen=True)
class Interactions:
    """Rows = users, columns = items (the candidate pool), values = purchase rows per pair."""

    user_ids: np.ndarray
    item_ids: np.ndarray
    user_index: dict[str, int]
    item_index: dict[str, int]
    counts: sparse.csr_matrix
    #: one entry per purchase event, sorted by (user row, time): user row, item column, epoch s
    ev_user: np.ndarray | None = None
    ev_item: np.ndarray | None = None
    ev_time: np.ndarray | None = None
    ev_purchase: np.ndarray | None = None
    #: each event's behaviour type (``fulcrum.core.schema.EventType`` value), same order
    ev_type: np.ndarray | None = None
    #: when each user is evaluated (None: one second after the last purchase, for everyone)
    cuts: Cuts | None = None

    @classmethod
    def from_events(cls, train_events: pd.DataFrame, signal: str, cuts: Cuts | None = None) -> Interactions:
        """The ``signal`` events (see the module doc) of a train side."""
        kinds = train_events[S.EVENT_TYPE].astype(str)
        if signal == "purchases":
            keep = kinds == S.EventType.PURCHASE.value
        elif signal == "interactions":
            keep = ~kinds.isin(NOT_POSITIVE)
        else:
            raise ValueError(f"signal: {signal!r} is not one of {SIGNALS}")
        keep &= train_events[S.USER_ID].notna()
        return cls.from_purchases(train_events[keep.to_numpy()], cuts=cuts)

    @classmethod
    def from_purchases(cls, purchases: pd.DataFrame, cuts: Cuts | None = None) -> Interactions:
        """From events that are all purchases, or a mix (``ev_purchase`` tells them apart)."""
        users = pd.Categorical(purchases[S.USER_ID].astype(str))
        items = pd.Categorical(purchases[S.ITEM_ID].astype(str))
        matrix = sparse.csr_matrix(
            (np.ones(len(purchases), dtype=np.float32), (users.codes, items.codes)),
            shape=(len(users.categories), len(items.categories)),
        )
        matrix.sum_duplicates()
        user_ids = np.asarray(users.categories, dtype=object)
        item_ids = np.asarray(items.categories, dtype=object)
        ev_user = np.asarray(users.codes, dtype=np.int64)
        ev_item = np.asarray(items.codes, dtype=np.int64)
        ev_time = np.zeros(len(purchases), dtype=np.float64)
        if S.TIMESTAMP in purchases.columns and len(purchases):
            t = pd.to_datetime(purchases[S.TIMESTAMP], utc=True)
            ev_time = (t - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=np.float64)
        if S.EVENT_TYPE in purchases.columns:
            ev_type = purchases[S.EVENT_TYPE].astype(str).to_numpy(dtype=object)
        else:
            ev_type = np.full(len(purchases), S.EventType.PURCHASE.value, dtype=object)
        ev_purchase = ev_type == S.EventType.PURCHASE.value
        order = np.lexsort((ev_time, ev_user))
        if cuts is None:
            cuts = Cuts(default=float(ev_time.max()) + 1.0 if len(ev_time) else 0.0)
        return cls(
            user_ids=user_ids,
            item_ids=item_ids,
            user_index={u: i for i, u in enumerate(user_ids)},
            item_index={it: i for i, it in enumerate(item_ids)},
            counts=matrix,
            ev_user=ev_user[order],
            ev_item=ev_item[order],
            ev_time=ev_time[order],
            ev_purchase=ev_purchase[order],
            ev_type=ev_type[order],
            cuts=cuts,
        )

    @property
    def binary(self) -> sparse.csr_matrix:
        out = self.counts.copy()
        out.data[:] = 1.0
        return out

    def distinct_buyers(self) -> np.ndarray:
        """Per item, the number of distinct users who bought it."""
        return np.asarray((self.counts > 0).sum(axis=0)).ravel().astype(np.float64)

    def cut_of_rows(self, user_rows: np.ndarray) -> np.ndarray:
        """[len(user_rows)] evaluation moment (epoch s) of each user row."""
        cuts = self.cuts or Cuts(default=0.0)
        return np.array([cuts.of(str(self.user_ids[r])) for r in np.asarray(user_rows)], dtype=np.float64)

    def user_bounds(self) -> np.ndarray:
        """[n_users + 1] offsets into the ``ev_*`` arrays: user r's events are [b[r], b[r+1])."""
        if self.ev_user is None:
            raise ValueError("interactions: built without purchase events")
        return np.searchsorted(self.ev_user, np.arange(len(self.user_ids) + 1), side="left")
