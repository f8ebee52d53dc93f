"""The hybrid's neighbour sources of a validation / test slice's users, by serving's rule.

Serving takes a user's neighbour sources from their stored profile
(``fulcrum.core.neighbour_source.profile_sources``): the bought items, plus, under the
interactions source, the positive items of the profile's recent sequence. Here each user's
train events before their cut are folded into that very profile (``fulcrum.core.user_state``:
the same fold, caps and recent-sequence length as the batch job and the stream), and the same
core rule picks the sources, so the weights chosen on validation are those of the served score.
"""

from __future__ import annotations

import numpy as np

from fulcrum.core import schema as S
from fulcrum.core.neighbour_source import PURCHASES, check_source, profile_sources
from fulcrum.core.user_state import BehaviourEvent, UserState, fold_user_events, user_profile
from offline.model.interactions import Interactions

_NAMES = {c: t for t, c in S.EVENT_TYPE_CODE.items()}


def profile_before(inter: Interactions, u: int, at: float):
    """User ``u``'s profile folded from their events before ``at`` (item ids: the item ROWS as
    strings; a user's events are stored in time order)."""
    sl = inter.user_slice(u)
    end = int(np.searchsorted(inter.ev_time[sl], at, side="left"))
    items, types, times = (a[sl][:end].tolist() for a in (inter.ev_item, inter.ev_type, inter.ev_time))
    events = [BehaviourEvent(str(i), _NAMES[t], s) for i, t, s in zip(items, types, times, strict=True)
              if t in _NAMES]
    return user_profile(str(u), fold_user_events(UserState(), events))


def slice_profiles(inter: Interactions, users: list[int], at: np.ndarray) -> list:
    """``profile_before`` of each of ``users`` at ``at[j]`` (item ids: rows as strings)."""
    return [profile_before(inter, int(u), float(a))
            for u, a in zip(users, np.asarray(at, dtype=np.float64), strict=True)]


def slice_sources(
    inter: Interactions, users: list[int], at: np.ndarray, bought: list[set[int]], source: str,
    profiles: list | None = None,
) -> list[set[int]]:
    """Neighbour-source item rows of each of ``users`` (cut ``at[j]``): ``bought`` itself (their
    purchases before the cut) under the purchases source, else serving's rule on their profile
    (``profiles``: ``slice_profiles`` of the same users, when the caller has them)."""
    if check_source(source) == PURCHASES:
        return bought
    if profiles is None:
        profiles = slice_profiles(inter, users, at)
    return [{int(i) for i in profile_sources(p, source)} for p in profiles]
