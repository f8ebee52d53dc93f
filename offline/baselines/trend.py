"""A baseline plus Fulcrum's trend prior: ``z(base score) + weight * trend[j]``.

The prior and the blend are Fulcrum's own (not re-implemented here): the prior is
``offline.model.trend_prior.trend_prior`` (standardised log1p of each item's distinct buyers in the
``days`` before the cut) and the blend is ``fulcrum.core.hybrid.hybrid_scores`` with the neighbour
weight at 0 -- exactly the trend term the serving hybrid adds to the two towers. So "ALS + trend"
answers: how much of the model's gain would any recommender get from the same prior?

The cut is the user's evaluation moment (``Interactions.cuts``): one shared cut on a time split;
on leave-last-out each user's own, rounded down to the start of its UTC day (as the model's
validation does, so a few hundred vectors serve thousands of users; the prior then ignores the
cut's own day, never a look-ahead). Only purchases strictly before the cut count, whatever
signal the base learns from.

The weight is a knob (``set_knob``) chosen on the validation slice without refitting the base.
Unknown users get the base's unknown-user scores blended with the shared cut's prior.
"""

from __future__ import annotations

import numpy as np

from fulcrum.core.hybrid import HybridWeights, hybrid_scores
from offline.baselines.interactions import Interactions

DEFAULT_DAYS = 14.0


class TrendBlend:
    def __init__(self, base, weight: float = 0.0, days: float = DEFAULT_DAYS) -> None:
        if not days > 0:
            raise ValueError(f"trend days: must be positive, got {days!r}")
        self.base = base
        self.days = float(days)
        self.name = f"{base.name}+trend"
        self.set_knob(trend_weight=weight)

    def set_knob(self, trend_weight: float) -> None:
        self.weights = HybridWeights(neighbour=0.0, trend=float(trend_weight))  # validates >= 0
        self.settings = {**getattr(self.base, "settings", {}), "trend_weight": float(trend_weight),
                         "trend_days": self.days, "blend": "z(base) + w * trend (fulcrum.core.hybrid)"}

    def fit(self, interactions: Interactions) -> None:
        from offline.model.trend_prior import TrendAt

        self.base.fit(interactions)
        self._inter = interactions
        bought = interactions.ev_purchase
        per_user = interactions.cuts is not None and interactions.cuts.per_user
        self._trend = TrendAt(interactions.ev_user[bought], interactions.ev_item[bought],
                              interactions.ev_time[bought], self.days, len(interactions.item_ids),
                              by_day=per_user)

    def trend_at(self, at: float) -> np.ndarray:
        """The prior as of ``at`` (epoch s; rounded to its day on a per-user split), memoised:
        ``offline.model.trend_prior.TrendAt``, the same per-cut prior the training's validation and
        self-check and the bundle rows of bench quality (offline/report/bundle_model.py) use."""
        return self._trend.vector(at)

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        scores = np.atleast_2d(self.base.score(user_rows))
        cuts = self._inter.cut_of_rows(user_rows)
        return np.stack([hybrid_scores(row, None, self.trend_at(at), self.weights)
                         for row, at in zip(scores, cuts, strict=True)])

    def score_unknown(self) -> np.ndarray:
        default = self._inter.cuts.default if self._inter.cuts is not None else 0.0
        return hybrid_scores(self.base.score_unknown(), None, self.trend_at(default), self.weights)
