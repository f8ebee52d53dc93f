"""A user's behaviour state and the ONE pure fold that updates it from events.

The offline batch job (offline/features/batch.py) folds the events table through
``fold_user_events`` to write point-in-time snapshots; the online sink (online/features/sink.py)
folds each ingested batch into the state it read back from the online store. Same function, same
caps, same windows: the batch and the streaming features cannot drift apart (no skew).

Rules (hand-tested in tests/online/features/test_feature_merge.py):

- counts per behaviour type, all time and over calendar-day windows (7d, 30d) anchored at the day
  of ``as_of`` (the newest event folded in, impressions included);
- ``last_active``: newest non-impression event;
- the recent sequence: non-impression events ordered by time (ties keep arrival order), the
  newest ``RECENT_MAX`` kept;
- ``bought`` / ``cancelled`` / ``disliked``: the items purchased / cancelled / disliked, each with
  the time of its newest such event;
- ``ignored``: impressions of an item since the user last clicked, carted or bought it (such an
  event removes the item), with the time of the newest impression;
- caps: each of these four sets keeps the newest ``UserCaps.set_max`` items (``user_set_max``,
  ``FULCRUM_USER_SET_MAX``, default ``DEFAULT_SET_MAX``). The cap is applied after EVERY event:
  when a new item makes a set one too long, the item with the oldest time goes (ties: the
  smallest item id), so the result does not depend on how the events were cut into batches
  (the offline job folds a user's whole history at once, the stream a few events at a time).
  A late event (older than what the set holds) cannot bring back an item the cap dropped.
  ``distinct_items`` of the profile is therefore at most ``set_max``.

Every process that folds events (the offline batch job, training, ``fulcrum ingest``, the
server) must run with the same ``FULCRUM_USER_SET_MAX``: set it once, in the shared config.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

from fulcrum.core import environment
from fulcrum.core import feature_names as fn
from fulcrum.core.profile import UserProfile
from fulcrum.core.schema import BEHAVIOUR_TYPES, EventType

DAY_S = 86_400.0
_IMPRESSION = EventType.IMPRESSION.value
_ENGAGED = frozenset({EventType.CLICK.value, EventType.ADD_TO_CART.value, EventType.PURCHASE.value})
_PURCHASE, _CANCEL, _DISLIKE = EventType.PURCHASE.value, EventType.CANCEL.value, EventType.DISLIKE.value
_BEHAVIOUR = frozenset(BEHAVIOUR_TYPES)

ENV_SET_MAX = "FULCRUM_USER_SET_MAX"
DEFAULT_SET_MAX = 200
SET_MAX_RANGE = (1, 100_000)


@dataclass(frozen=True)
class UserCaps:
    """How much of a user's history one row keeps."""

    #: bought / cancelled / disliked / ignored each keep their newest ``set_max`` items
    set_max: int = DEFAULT_SET_MAX

    def __post_init__(self) -> None:
        lo, hi = SET_MAX_RANGE
        n = self.set_max
        if isinstance(n, bool) or not isinstance(n, int) or not lo <= n <= hi:
            raise ValueError(f"user_set_max: must be an integer in [{lo}, {hi}], got {self.set_max!r}")


def caps_from_env(env: Mapping[str, str] | None = None) -> UserCaps:
    """``UserCaps`` from ``FULCRUM_USER_SET_MAX`` (unset or empty: the default); a bad value raises
    ValueError naming the variable. Entry points call ``configured_caps()`` at start-up."""
    env = environment.current(env)
    raw = (env.get(ENV_SET_MAX) or "").strip()
    if not raw:
        return UserCaps()
    try:
        return UserCaps(set_max=int(raw))
    except ValueError as e:
        lo, hi = SET_MAX_RANGE
        raise ValueError(f"{ENV_SET_MAX}: must be an integer in [{lo}, {hi}], got {raw!r}") from e


@lru_cache(maxsize=4)
def _caps_for(raw: str | None) -> UserCaps:
    return caps_from_env({} if raw is None else {ENV_SET_MAX: raw})


def configured_caps() -> UserCaps:
    """The caps of this process (``FULCRUM_USER_SET_MAX``), validated; what every fold uses
    unless given caps explicitly."""
    return _caps_for(environment.get(ENV_SET_MAX))


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
    #: item -> epoch seconds of the newest purchase / cancel / dislike of it
    bought_at: Mapping[str, float] = field(default_factory=dict)
    cancelled_at: Mapping[str, float] = field(default_factory=dict)
    disliked_at: Mapping[str, float] = field(default_factory=dict)
    #: item -> impressions since the last engagement; item -> time of the newest of them
    ignored: Mapping[str, int] = field(default_factory=dict)
    ignored_at: Mapping[str, float] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return self.as_of is None

    @property
    def bought(self) -> frozenset[str]:
        return frozenset(self.bought_at)

    @property
    def cancelled(self) -> frozenset[str]:
        return frozenset(self.cancelled_at)

    @property
    def disliked(self) -> frozenset[str]:
        return frozenset(self.disliked_at)


def day_of(ts: float) -> int:
    return int(math.floor(ts / DAY_S))


def _age(kv: tuple[str, float]) -> tuple[float, str]:
    return kv[1], kv[0]


def _touch(times: dict[str, float], item: str, ts: float, cap: int) -> str | None:
    """Record ``item`` at ``ts`` (the newest time wins); when that makes the set longer than
    ``cap``, drop and return the oldest item (ties: the smallest id)."""
    old = times.get(item)
    times[item] = ts if old is None else max(old, ts)
    if old is None and len(times) > cap:
        oldest = min(times.items(), key=_age)[0]
        del times[oldest]
        return oldest
    return None


def newest_first_cut(times: Mapping[str, float], cap: int) -> dict[str, float]:
    """The newest ``cap`` entries of ``times`` (ties: the larger item id is newer), oldest first."""
    ordered = sorted(times.items(), key=_age)
    return dict(ordered[-cap:] if cap else [])


def fold_user_events(
    state: UserState, events: Iterable[BehaviourEvent], caps: UserCaps | None = None
) -> UserState:
    """Return the state after ``events`` (any order; applied in time order, ties in given order).

    Pure: ``state`` is not modified. Events of unknown types are a caller bug and raise ValueError.
    ``caps``: default ``configured_caps()``.
    """
    cap = (caps or configured_caps()).set_max
    evs = sorted(events, key=lambda e: e.ts)
    if not evs:
        return state
    counts = dict(state.counts_all)
    daily = {d: dict(c) for d, c in state.daily.items()}
    recent = list(state.recent)
    # a state read back under a larger cap (FULCRUM_USER_SET_MAX lowered): cut to this cap first
    bought = newest_first_cut(state.bought_at, cap)
    cancelled = newest_first_cut(state.cancelled_at, cap)
    disliked = newest_first_cut(state.disliked_at, cap)
    ignored_at = newest_first_cut(state.ignored_at, cap)
    ignored = {i: int(state.ignored.get(i, 0)) for i in ignored_at}
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
        ts = float(e.ts)
        if t == _IMPRESSION:
            ignored[e.item_id] = ignored.get(e.item_id, 0) + 1
            dropped = _touch(ignored_at, e.item_id, ts, cap)
            if dropped is not None:
                del ignored[dropped]
            continue
        last_active = e.ts if last_active is None else max(last_active, e.ts)
        recent.append((e.item_id, t, ts))
        if t in _ENGAGED:
            ignored.pop(e.item_id, None)
            ignored_at.pop(e.item_id, None)
        if t == _PURCHASE:
            _touch(bought, e.item_id, ts, cap)
        elif t == _CANCEL:
            _touch(cancelled, e.item_id, ts, cap)
        elif t == _DISLIKE:
            _touch(disliked, e.item_id, ts, cap)
    n_old = len(state.recent)
    if 0 < n_old < len(recent) and recent[n_old][2] < recent[n_old - 1][2]:
        recent.sort(key=lambda r: r[2])  # a late event: restore time order (stable)
    as_of = float(as_of if as_of is not None else evs[-1].ts)
    first_day = day_of(as_of) - fn.MAX_WINDOW_DAYS + 1
    daily = {d: c for d, c in daily.items() if d >= first_day}
    return UserState(
        as_of=as_of,
        last_active=last_active,
        counts_all=counts,
        daily=daily,
        recent=tuple(recent[-fn.RECENT_MAX :]),
        bought_at=bought,
        cancelled_at=cancelled,
        disliked_at=disliked,
        ignored=ignored,
        ignored_at=ignored_at,
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
    for items, times, at in (
        (fn.BOUGHT, fn.BOUGHT_TIMES, state.bought_at),
        (fn.CANCELLED, fn.CANCELLED_TIMES, state.cancelled_at),
        (fn.DISLIKED, fn.DISLIKED_TIMES, state.disliked_at),
    ):
        ordered = sorted(at.items(), key=_age)  # oldest first
        row[items] = [i for i, _ in ordered]
        row[times] = [float(t) for _, t in ordered]
    at = state.ignored_at
    ignored = {i: [int(n), float(at.get(i, state.as_of or 0.0))] for i, n in state.ignored.items()}
    row[fn.IGNORED] = json.dumps(dict(sorted(ignored.items())), separators=(",", ":"))
    return row


def _num(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) else f


def _seq(v: Any) -> list[Any]:
    """A list feature as read back: None -> [], numpy arrays and lists -> list."""
    return [] if v is None else list(v)


def _times(row: Mapping[str, Any], items_name: str, times_name: str, as_of: float) -> dict[str, float]:
    """item -> time of a set; a row written before the times existed reads as ``as_of``."""
    items = [str(i) for i in _seq(row.get(items_name))]
    times = [float(t) for t in _seq(row.get(times_name))]
    if not times:
        return dict.fromkeys(items, as_of)
    if len(times) != len(items):
        raise ValueError(f"{items_name}: {len(items)} items but {len(times)} {times_name}")
    return dict(zip(items, times, strict=True))


def _ignored(raw: Any, as_of: float) -> tuple[dict[str, int], dict[str, float]]:
    """``{"item": [count, newest impression s]}`` (or a bare count: a row from before the times)."""
    counts: dict[str, int] = {}
    at: dict[str, float] = {}
    for item, v in json.loads(raw or "{}").items():
        if isinstance(v, list):
            counts[item], at[item] = int(v[0]), float(v[1])
        else:
            counts[item], at[item] = int(v), as_of
    return counts, at


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
    ignored, ignored_at = _ignored(row.get(fn.IGNORED), as_of)
    return UserState(
        as_of=as_of,
        last_active=_num(row.get(fn.LAST_ACTIVE)),
        counts_all={t: n for t, n in counts.items() if n},
        daily=daily,
        recent=tuple(zip(items, types, times, strict=True)),
        bought_at=_times(row, fn.BOUGHT, fn.BOUGHT_TIMES, as_of),
        cancelled_at=_times(row, fn.CANCELLED, fn.CANCELLED_TIMES, as_of),
        disliked_at=_times(row, fn.DISLIKED, fn.DISLIKED_TIMES, as_of),
        ignored=ignored,
        ignored_at=ignored_at,
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
