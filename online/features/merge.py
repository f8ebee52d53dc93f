"""Pure merging of ingested events into the online feature rows (no I/O, no Feast).

The rules themselves are the shared folds of ``fulcrum.core.user_state`` and
``fulcrum.core.item_state`` (the same ones the offline batch job uses); this module groups a batch
of :class:`fulcrum.core.events.Event` by entity, folds each group into the state read back from
the online store, and lays the results out as the frames Feast's push sources take.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from fulcrum.core import feature_names as fn
from fulcrum.core.events import Event
from fulcrum.core.item_state import ItemEvent, ItemState, fold_item_events, item_state_to_row
from fulcrum.core.schema import BEHAVIOUR_TYPES, EventType
from fulcrum.core.user_state import BehaviourEvent, UserState, fold_user_events, user_state_to_row

_BEHAVIOUR = frozenset(BEHAVIOUR_TYPES)
_UPSERT = EventType.ITEM_UPSERT.value


def _type(e: Event) -> str:
    """The event type as its plain string (``Enum._value_``: ``Enum.value`` is slow in a hot loop)."""
    t = e.event_type
    return t._value_ if isinstance(t, EventType) else str(t)


class Grouped(NamedTuple):
    """One batch grouped by entity (see :func:`group_events`)."""

    users: dict[str, list[BehaviourEvent]]
    items: dict[str, list[ItemEvent]]
    upserts: dict[str, str]


def group_events(events: Sequence[Event]) -> Grouped:
    """One pass over a batch, in batch order:

    - ``users``: behaviour events grouped by user (ITEM_UPSERT and user-less events skipped);
    - ``items``: events grouped by item (every type, ITEM_UPSERT included);
    - ``upserts``: item id -> text of its newest ITEM_UPSERT (ties: the later one in the batch).
    """
    users: dict[str, list[BehaviourEvent]] = {}
    items: dict[str, list[ItemEvent]] = {}
    newest: dict[str, tuple[int, str]] = {}
    behaviour = _BEHAVIOUR
    for e in events:
        t = _type(e)
        ts = e.timestamp_ms / 1000.0
        iid = e.item_id
        if t in behaviour:
            if e.user_id:
                u = users.get(e.user_id)
                if u is None:
                    u = users[e.user_id] = []
                u.append(BehaviourEvent(iid, t, ts))
        elif t == _UPSERT and iid:
            prev = newest.get(iid)
            if prev is None or e.timestamp_ms >= prev[0]:
                newest[iid] = (e.timestamp_ms, e.item_text)
        if iid:
            i = items.get(iid)
            if i is None:
                i = items[iid] = []
            i.append(ItemEvent(t, ts, float(e.price)))
    return Grouped(users, items, {k: v[1] for k, v in newest.items()})


def user_events(events: Sequence[Event]) -> dict[str, list[BehaviourEvent]]:
    """Behaviour events grouped by user, in batch order (ITEM_UPSERT and user-less events skipped)."""
    return group_events(events).users


def item_events(events: Sequence[Event]) -> dict[str, list[ItemEvent]]:
    """Events grouped by item (every type, ITEM_UPSERT included), in batch order."""
    return group_events(events).items


def item_upserts(events: Sequence[Event]) -> dict[str, str]:
    """item id -> text of its newest ITEM_UPSERT in the batch (ties: the later one in the batch)."""
    return group_events(events).upserts


def merge_users(
    current: Mapping[str, UserState], grouped: Mapping[str, list[BehaviourEvent]]
) -> dict[str, UserState]:
    """New state of every user in ``grouped`` (a user missing from ``current`` starts empty)."""
    return {u: fold_user_events(current.get(u, UserState()), evs) for u, evs in grouped.items()}


def merge_items(
    current: Mapping[str, ItemState], grouped: Mapping[str, list[ItemEvent]]
) -> dict[str, ItemState]:
    return {i: fold_item_events(current.get(i, ItemState()), evs) for i, evs in grouped.items()}


def _stamp(seconds: list[float]) -> pd.Series:
    ns = np.round(np.asarray(seconds, dtype=np.float64) * 1e6).astype(np.int64) * 1000
    return pd.Series(pd.to_datetime(ns, unit="ns", utc=True))


def user_push_frame(states: Mapping[str, UserState]) -> pd.DataFrame:
    """The ``user_behaviour`` push frame: one row per user, stamped at the state's ``as_of``."""
    keys = [u for u, s in states.items() if not s.is_empty]
    rows = [user_state_to_row(states[u]) for u in keys]
    frame = pd.DataFrame(rows, columns=list(fn.USER_BEHAVIOUR_FEATURES))
    frame.insert(0, fn.EVENT_TS, _stamp([float(states[u].as_of or 0.0) for u in keys]))
    frame.insert(0, fn.USER_KEY, keys)
    return frame


def item_push_frame(states: Mapping[str, ItemState]) -> pd.DataFrame:
    keys = [i for i, s in states.items() if not s.is_empty]
    rows = [item_state_to_row(states[i]) for i in keys]
    frame = pd.DataFrame(rows, columns=list(fn.ITEM_STATS_FEATURES))
    frame.insert(0, fn.EVENT_TS, _stamp([float(states[i].as_of or 0.0) for i in keys]))
    frame.insert(0, fn.ITEM_KEY, keys)
    return frame


def item_embedding_frame(
    texts: Mapping[str, str], embeddings: np.ndarray, at_s: Mapping[str, float]
) -> pd.DataFrame:
    """The ``item_embedding`` push frame for upserted items (row i of ``embeddings`` <-> i-th text)."""
    keys = list(texts)
    emb = np.asarray(embeddings, dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] != len(keys):
        raise ValueError(f"item embedder returned shape {emb.shape} for {len(keys)} texts")
    return pd.DataFrame(
        {
            fn.ITEM_KEY: keys,
            fn.EVENT_TS: _stamp([at_s[k] for k in keys]),
            fn.ITEM_EMBEDDING: [row.tolist() for row in emb],
            fn.ITEM_TEXT: [texts[k] for k in keys],
        }
    )


def rows_by_key(
    response: Mapping[str, list[Any]], key: str, features: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Feast's column-wise ``to_dict()`` -> {entity id: {feature: value}} (all-None rows dropped)."""
    ids = response[key]
    out: dict[str, dict[str, Any]] = {}
    for j, k in enumerate(ids):
        row = {f: response[f][j] for f in features}
        if any(v is not None for v in row.values()):
            out[k] = row
    return out
