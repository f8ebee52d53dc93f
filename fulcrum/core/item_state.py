"""An item's statistics and the pure fold that updates them from events.

The online sink folds ingested events with ``fold_item_events``; the offline batch job computes
the same numbers with vectorised pandas (offline/features/batch.py) and a test proves both give
the same state for the same events.

Rules:

- purchases / impressions / clicks / cancels: event counts of those types;
- price: the price of the most recently applied PURCHASE or ITEM_UPSERT with a positive price
  (None until one is seen);
- first_seen: the earliest event of any type (ITEM_UPSERT included);
- popularity_rank: set by the batch job only (1 = most purchased; 0 = not ranked yet); streaming
  updates keep the last batch value, because a rank is a property of the whole catalogue.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from fulcrum.core import feature_names as fn
from fulcrum.core.schema import EVENT_TYPES, EventType

_PRICED = frozenset({EventType.PURCHASE.value, EventType.ITEM_UPSERT.value})
_KNOWN = frozenset(EVENT_TYPES)
_PURCHASE, _IMPRESSION = EventType.PURCHASE.value, EventType.IMPRESSION.value
_CLICK, _CANCEL = EventType.CLICK.value, EventType.CANCEL.value


class ItemEvent(NamedTuple):
    event_type: str  # one of EVENT_TYPES
    ts: float  # epoch seconds, UTC
    price: float = 0.0


@dataclass(frozen=True)
class ItemState:
    as_of: float | None = None
    purchases: int = 0
    impressions: int = 0
    clicks: int = 0
    cancels: int = 0
    price: float | None = None
    first_seen: float | None = None
    popularity_rank: int = 0

    @property
    def cancel_rate(self) -> float:
        total = self.purchases + self.cancels
        return self.cancels / total if total else 0.0

    @property
    def is_empty(self) -> bool:
        return self.as_of is None


def fold_item_events(state: ItemState, events: Iterable[ItemEvent]) -> ItemState:
    """Return the item's state after ``events`` (applied in time order). Pure."""
    evs = sorted(events, key=lambda e: e.ts)
    if not evs:
        return state
    p, i, c, x = state.purchases, state.impressions, state.clicks, state.cancels
    price, first, as_of = state.price, state.first_seen, state.as_of
    for e in evs:
        t = e.event_type
        if t not in _KNOWN:
            raise ValueError(f"event_type {t!r} is unknown; allowed: {', '.join(EVENT_TYPES)}")
        if t == _PURCHASE:
            p += 1
        elif t == _IMPRESSION:
            i += 1
        elif t == _CLICK:
            c += 1
        elif t == _CANCEL:
            x += 1
        if t in _PRICED and e.price > 0 and math.isfinite(e.price):
            price = float(e.price)
        first = e.ts if first is None else min(first, e.ts)
        as_of = e.ts if as_of is None else max(as_of, e.ts)
    return ItemState(
        as_of=float(as_of) if as_of is not None else None,
        purchases=p,
        impressions=i,
        clicks=c,
        cancels=x,
        price=price,
        first_seen=first,
        popularity_rank=state.popularity_rank,
    )


def item_state_to_row(state: ItemState) -> dict[str, Any]:
    nan = float("nan")
    return {
        fn.ITEM_AS_OF: nan if state.as_of is None else float(state.as_of),
        fn.ITEM_PURCHASES: int(state.purchases),
        fn.ITEM_IMPRESSIONS: int(state.impressions),
        fn.ITEM_CLICKS: int(state.clicks),
        fn.ITEM_CANCELS: int(state.cancels),
        fn.ITEM_CANCEL_RATE: float(state.cancel_rate),
        fn.ITEM_PRICE: nan if state.price is None else float(state.price),
        fn.ITEM_FIRST_SEEN: nan if state.first_seen is None else float(state.first_seen),
        fn.ITEM_POPULARITY_RANK: int(state.popularity_rank),
    }


def _num(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) else f


def item_state_from_row(row: Mapping[str, Any]) -> ItemState:
    """Inverse of ``item_state_to_row`` (missing values read as an empty state)."""
    as_of = _num(row.get(fn.ITEM_AS_OF))
    if as_of is None:
        return ItemState()
    return ItemState(
        as_of=as_of,
        purchases=int(row.get(fn.ITEM_PURCHASES) or 0),
        impressions=int(row.get(fn.ITEM_IMPRESSIONS) or 0),
        clicks=int(row.get(fn.ITEM_CLICKS) or 0),
        cancels=int(row.get(fn.ITEM_CANCELS) or 0),
        price=_num(row.get(fn.ITEM_PRICE)),
        first_seen=_num(row.get(fn.ITEM_FIRST_SEEN)),
        popularity_rank=int(row.get(fn.ITEM_POPULARITY_RANK) or 0),
    )
