"""A user's behaviour state and the ONE pure fold that updates it from events.

The offline batch job (offline/features/batch.py) folds the events table through
``fold_user_events`` to write point-in-time snapshots; the online sink (online/features/sink.py)
folds each ingested batch into the state it read back from the online store. Same function, same
caps, same windows: the batch and the streaming features cannot drift apart (no skew).

Rules (hand-tested in tests/test_feature_merge.py):

- counts per behaviour type, all time and over calendar-day windows (7d, 30d) anchored at the day
  of ``as_of`` (the newest event folded in, impressions included);
- ``last_active``: newest non-impression event;
- the recent sequence: non-impression events ordered by time (ties keep arrival order), the
  newest ``RECENT_MAX`` kept;
- ``bought`` / ``cancelled`` / ``disliked``: every item ever purchased / cancelled / disliked;
- ``ignored``: impressions of an item since the user last clicked, carted or bought it (such an
  event removes the item); at most ``IGNORED_MAX`` items, the highest counts kept.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from fulcrum.core import feature_names as fn
from fulcrum.core.profile import UserProfile
from fulcrum.core.schema import BEHAVIOUR_TYPES, EventType

DAY_S = 86_400.0
_IMPRESSION = EventType.IMPRESSION.value
_ENGAGED = frozenset({EventType.CLICK.value, EventType.ADD_TO_CART.value, EventType.PURCHASE.value})
_PURCHASE, _CANCEL, _DISLIKE = EventType.PURCHASE.value, EventType.CANCEL.value, EventType.DISLIKE.value
_BEHAVIOUR = frozenset(BEHAVIOUR_TYPES)


class BehaviourEvent(NamedTuple):
    """What the fold needs of one user event."""

    item_id: str
    event_type: str  # one of BEHAVIOUR_TYPES
    ts: float  # epoch seconds, UTC


@dataclass(frozen=True)
class UserState:
    as_of: float | None = None
    last_active: float | None = None
    counts_all: Mapping[str, int] = field(default_factory=dict)
    #: day index (epoch seconds // 86400) -> event type -> count, last MAX_WINDOW_DAYS days only
    daily: Mapping[int, Mapping[str, int]] = field(default_factory=dict)
    #: (item id, event type, epoch seconds), oldest first
    recent: tuple[tuple[str, str, float], ...] = ()
    bought: frozenset[str] = frozenset()
    cancelled: frozenset[str] = frozenset()
    disliked: frozenset[str] = frozenset()
    ignored: Mapping[str, int] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return self.as_of is None


def day_of(ts: float) -> int:
    return int(math.floor(ts / DAY_S))


def fold_user_events(state: UserState, events: Iterable[BehaviourEvent]) -> UserState:
    """Return the state after ``events`` (any order; applied in time order, ties in given order).

    Pure: ``state`` is not modified. Events of unknown types are a caller bug and raise ValueError.
    """
    evs = sorted(events, key=lambda e: e.ts)
    if not evs:
        return state
    counts = dict(state.counts_all)
    daily = {d: dict(c) for d, c in state.daily.items()}
    recent = list(state.recent)
    bought, cancelled, disliked = set(state.bought), set(state.cancelled), set(state.disliked)
    ignored = dict(state.ignored)
    as_of, last_active = state.as_of, state.last_active
    for e in evs:
        t = e.event_type
        if t not in _BEHAVIOUR:
            raise ValueError(
                f"event_type {t!r} is not a behaviour type; allowed: {', '.join(BEHAVIOUR_TYPES)}"
            )
        counts[t] = counts.get(t, 0) + 1
        bucket = daily.setdefault(day_of(e.ts), {})
        bucket[t] = bucket.get(t, 0) + 1
        as_of = e.ts if as_of is None else max(as_of, e.ts)
        if t == _IMPRESSION:
            ignored[e.item_id] = ignored.get(e.item_id, 0) + 1
            continue
        last_active = e.ts if last_active is None else max(last_active, e.ts)
        recent.append((e.item_id, t, float(e.ts)))
        if t in _ENGAGED:
            ignored.pop(e.item_id, None)
        if t == _PURCHASE:
            bought.add(e.item_id)
        elif t == _CANCEL:
            cancelled.add(e.item_id)
        elif t == _DISLIKE:
            disliked.add(e.item_id)
    n_old = len(state.recent)
    if 0 < n_old < len(recent) and recent[n_old][2] < recent[n_old - 1][2]:
        recent.sort(key=lambda r: r[2])  # a late event: restore time order (stable)
    as_of = float(as_of if as_of is not None else evs[-1].ts)
    first_day = day_of(as_of) - fn.MAX_WINDOW_DAYS + 1
    daily = {d: c for d, c in daily.items() if d >= first_day}
    if len(ignored) > fn.IGNORED_MAX:
        keep = sorted(ignored.items(), key=lambda kv: (-kv[1], kv[0]))[: fn.IGNORED_MAX]
        ignored = dict(keep)
    return UserState(
        as_of=as_of,
        last_active=last_active,
        counts_all=counts,
        daily=daily,
        recent=tuple(recent[-fn.RECENT_MAX :]),
        bought=frozenset(bought),
        cancelled=frozenset(cancelled),
        disliked=frozenset(disliked),
        ignored=ignored,
    )


#: (event type, [(count feature, window days or None for all time)]) in COUNT_FEATURES order
_COUNT_LAYOUT: tuple[tuple[str, tuple[tuple[str, int | None], ...]], ...] = tuple(
    (t, tuple((fn.count_feature(t, w), days) for w, days in fn.WINDOWS.items())) for t in BEHAVIOUR_TYPES
)


def window_counts(state: UserState) -> dict[str, int]:
    """Count features (``purchase_count_7d`` ...) of a state, windows anchored at ``as_of``.

    A day ``d`` is inside a ``w``-day window when ``d > anchor - w`` (the anchor day and the
    ``w - 1`` days before it). One pass over the daily buckets sums every window at once (the sink
    computes this for every user of every batch)."""
    anchor = day_of(state.as_of) if state.as_of is not None else 0
    sums: dict[tuple[str, int], int] = {}
    windows = [w for w in fn.WINDOWS.values() if w is not None]
    for d, c in state.daily.items():
        age = anchor - d  # 0 on the anchor day
        for w in windows:
            if age < w:
                for t, n in c.items():
                    sums[t, w] = sums.get((t, w), 0) + n
    counts_all = state.counts_all
    out: dict[str, int] = {}
    for t, features in _COUNT_LAYOUT:
        for name, days in features:
            out[name] = int(counts_all.get(t, 0) if days is None else sums.get((t, days), 0))
    return out


def user_state_to_row(state: UserState) -> dict[str, Any]:
    """The ``user_behaviour`` feature values of a state (plain Python values, NaN for 'none')."""
    row: dict[str, Any] = window_counts(state)
    row[fn.AS_OF] = float("nan") if state.as_of is None else float(state.as_of)
    row[fn.LAST_ACTIVE] = float("nan") if state.last_active is None else float(state.last_active)
    row[fn.DAILY_COUNTS] = json.dumps(
        {str(d): dict(sorted(c.items())) for d, c in sorted(state.daily.items())}, separators=(",", ":")
    )
    row[fn.RECENT_ITEMS] = [r[0] for r in state.recent]
    row[fn.RECENT_TYPES] = [r[1] for r in state.recent]
    row[fn.RECENT_TIMES] = [r[2] for r in state.recent]
    row[fn.BOUGHT] = sorted(state.bought)
    row[fn.CANCELLED] = sorted(state.cancelled)
    row[fn.DISLIKED] = sorted(state.disliked)
    row[fn.IGNORED] = json.dumps(dict(sorted(state.ignored.items())), separators=(",", ":"))
    return row


def _num(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) else f


def _seq(v: Any) -> list[Any]:
    """A list feature as read back: None -> [], numpy arrays and lists -> list."""
    return [] if v is None else list(v)


def user_state_from_row(row: Mapping[str, Any]) -> UserState:
    """Inverse of ``user_state_to_row`` (missing or None values read as empty)."""
    as_of = _num(row.get(fn.AS_OF))
    if as_of is None:
        return UserState()
    counts = {t: int(row.get(fn.count_feature(t, "all")) or 0) for t in BEHAVIOUR_TYPES}
    daily_raw = json.loads(row.get(fn.DAILY_COUNTS) or "{}")
    daily = {int(d): {t: int(n) for t, n in c.items()} for d, c in daily_raw.items()}
    items = _seq(row.get(fn.RECENT_ITEMS))
    types = _seq(row.get(fn.RECENT_TYPES))
    times = [float(x) for x in _seq(row.get(fn.RECENT_TIMES))]
    if not len(items) == len(types) == len(times):
        raise ValueError(
            f"recent sequence lengths differ: {len(items)} items, {len(types)} types, {len(times)} times"
        )
    return UserState(
        as_of=as_of,
        last_active=_num(row.get(fn.LAST_ACTIVE)),
        counts_all={t: n for t, n in counts.items() if n},
        daily=daily,
        recent=tuple(zip(items, types, times, strict=True)),
        bought=frozenset(_seq(row.get(fn.BOUGHT))),
        cancelled=frozenset(_seq(row.get(fn.CANCELLED))),
        disliked=frozenset(_seq(row.get(fn.DISLIKED))),
        ignored={k: int(v) for k, v in json.loads(row.get(fn.IGNORED) or "{}").items()},
    )


def user_profile(user_id: str, state: UserState) -> UserProfile:
    """The model-facing profile of a state (what Recommend and training both see)."""
    return UserProfile(
        user_id=user_id,
        recent_items=tuple(r[0] for r in state.recent),
        recent_types=tuple(r[1] for r in state.recent),
        recent_times=tuple(r[2] for r in state.recent),
        purchase_count=float(state.counts_all.get(EventType.PURCHASE.value, 0)),
        cancel_count=float(state.counts_all.get(EventType.CANCEL.value, 0)),
        distinct_items=float(len(state.bought)),
        last_active=state.last_active,
        bought=state.bought,
        cancelled=state.cancelled,
        disliked=state.disliked,
        ignored=dict(state.ignored),
    )
