"""Graded re-purchase: the user's own past items graded exactly as the serving repeat term grades
them, then popularity.

``repurchase`` (offline/baselines/repurchase.py) ranks own items by how many times they were
touched, every event alike. The serving default's repeat term is graded
(fulcrum/core/repeat_term.py): ``log2(1 + sum of w(type) * 2 ** (-age / h))`` with carts and
purchases weighted ``e`` and views 1, ages in days before the user's newest event. This baseline
uses that very function (``own_strengths``; no second copy of the formula) on the user's FULL
train history -- every signal event, not the profile's capped recent sequence, so no "bought but
left the sequence" correction is needed -- with the age measured from the user's newest history
event. It answers: how much of the serving default's gain over ``repurchase`` does the grading
alone bring?

Scores: ``1 + repeat(u, j)`` on own items (plus ``1e-9 x`` the popularity below, so equally graded
own items fall back to the more popular one), ``0.5 x distinct buyers / max`` elsewhere, so every
own item ranks above every other item. ``half_life_days`` (0 = no decay) and ``engaged_weight``
are a knob (``set_knob``), chosen on the validation slice without refitting.

``recent_max`` (None: the full history) restricts the view to what a serving profile row holds:
the user's newest ``recent_max`` events plus the bought set (every purchased item; a purchase
older than the window counts once, as old as the oldest kept event -- ``own_strengths``' rule).
With ``RECENT_MAX`` (fulcrum/core/feature_names.py) it measures what the profile's cap costs.

Only meaningful in the repeat-allowed variant (in discovery every own item is excluded and this
is popularity).
"""

from __future__ import annotations

import numpy as np

from fulcrum.core.repeat_term import RepeatShape, own_strengths
from fulcrum.core.schema import EventType
from offline.baselines.interactions import Interactions

#: the reference shape (tried first on validation): no decay, a cart counts as much as a view --
#: the order of ``repurchase``'s counts
DEFAULT_KNOB = {"half_life_days": 0.0, "engaged_weight": 1.0}
#: the validation grid
HALF_LIVES = (0.0, 1.0, 3.0, 7.0)
ENGAGED_WEIGHTS = (1.0, 2.0, 4.0, 8.0)
_TIE_BREAK = 1e-9


class GradedRepurchase:
    name = "repurchase-graded"

    def __init__(self, half_life_days: float = 0.0, engaged_weight: float = 1.0,
                 recent_max: int | None = None) -> None:
        if recent_max is not None and (isinstance(recent_max, bool) or int(recent_max) != recent_max
                                       or recent_max < 1):
            raise ValueError(f"repurchase-graded: recent_max must be an integer >= 1 or None, "
                             f"got {recent_max!r}")
        self.recent_max = None if recent_max is None else int(recent_max)
        self.set_knob(half_life_days=half_life_days, engaged_weight=engaged_weight)

    def set_knob(self, half_life_days: float, engaged_weight: float) -> None:
        self.shape = RepeatShape(True, float(half_life_days), float(engaged_weight))  # validates
        self.settings = {
            "score": "1 + repeat(u, j) on own items (fulcrum.core.repeat_term, full history), "
                     "then distinct buyers",
            "half_life_days": self.shape.half_life_days,
            "engaged_weight": self.shape.engaged_weight,
            **({} if self.recent_max is None else {"recent_max": self.recent_max}),
        }

    def fit(self, interactions: Interactions) -> None:
        if interactions.ev_type is None or interactions.ev_item is None:
            raise ValueError("repurchase-graded: the interactions carry no events; build them with "
                             "Interactions.from_events or from_purchases")
        self._inter = interactions
        self._bounds = interactions.user_bounds()
        pop = interactions.distinct_buyers()
        self._popularity = 0.5 * pop / max(pop.max(), 1.0)

    def strengths(self, user_row: int) -> dict[str, float]:
        """item id -> repeat(u, j) of one user row's own items under the current shape."""
        inter, lo, hi = self._inter, self._bounds[user_row], self._bounds[user_row + 1]
        items = inter.item_ids[inter.ev_item[lo:hi]]
        types, times = inter.ev_type[lo:hi], inter.ev_time[lo:hi]
        if self.recent_max is None or hi - lo <= self.recent_max:
            return own_strengths(items, types, times, (), self.shape)
        bought = set(items[types == EventType.PURCHASE.value])
        start = hi - lo - self.recent_max  # events are in time order per user
        return own_strengths(items[start:], types[start:], times[start:], bought, self.shape)

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        rows = np.atleast_1d(np.asarray(user_rows, dtype=np.int64))
        out = np.tile(self._popularity, (len(rows), 1))
        index = self._inter.item_index
        for n, r in enumerate(rows):
            for item, value in self.strengths(int(r)).items():
                col = index[item]
                out[n, col] = 1.0 + value + _TIE_BREAK * self._popularity[col]
        return out

    def score_unknown(self) -> np.ndarray:
        return self._popularity.copy()
