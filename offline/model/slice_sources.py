"""The hybrid's neighbour sources of a validation / test slice's users, by serving's rule.

Serving takes a user's neighbour sources from their stored profile
(``fulcrum.core.neighbour_source.profile_sources``): the bought items, plus, under the
interactions source, the positive items of the profile's recent sequence -- the newest
``RECENT_MAX`` non-impression events (``fulcrum.core.user_state``). Here the same sequence is
cut from the train events before each user's cut, and the same core rule picks the sources, so
the weights chosen on validation are those of the score that is served.
"""

from __future__ import annotations

import numpy as np

from fulcrum.core import feature_names as fn
from fulcrum.core import schema as S
from fulcrum.core.neighbour_source import PURCHASES, check_source, source_items
from offline.model.interactions import Interactions

_IMPRESSION = S.EVENT_TYPE_CODE[S.EventType.IMPRESSION.value]
_NAMES = {c: t for t, c in S.EVENT_TYPE_CODE.items()}


def recent_events(inter: Interactions, u: int, at: float) -> tuple[np.ndarray, np.ndarray]:
    """(item rows, type codes), oldest first, of the newest ``RECENT_MAX`` non-impression events
    of user ``u`` before ``at`` (a user's events are stored in time order)."""
    sl = inter.user_slice(u)
    times = inter.ev_time[sl]
    end = int(np.searchsorted(times, at, side="left"))
    items, types = inter.ev_item[sl][:end], inter.ev_type[sl][:end]
    keep = types != _IMPRESSION
    return items[keep][-fn.RECENT_MAX:], types[keep][-fn.RECENT_MAX:]


def slice_sources(
    inter: Interactions, users: list[int], at: np.ndarray, bought: list[set[int]], source: str
) -> list[set[int]]:
    """Neighbour-source item rows of each of ``users`` (cut ``at[j]``; ``bought[j]``: their
    purchases before it): ``bought`` itself under the purchases source."""
    if check_source(source) == PURCHASES:
        return bought
    out = []
    for u, a, b in zip(users, np.asarray(at, dtype=np.float64), bought, strict=True):
        items, types = recent_events(inter, int(u), float(a))
        out.append(set(source_items(b, items.tolist(), [_NAMES.get(int(t), "") for t in types], source)))
    return out
