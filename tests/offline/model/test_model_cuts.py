"""Per-user cuts (leave-last-out) in the retrieval model: hand-worked expectations."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fulcrum.core.schema import EVENT_TYPE_CODE
from offline.model.examples import build_examples
from offline.model.interactions import Interactions, last_basket_cuts
from offline.model.trend_prior import TrendAt, trend_prior

P, V = EVENT_TYPE_CODE["PURCHASE"], EVENT_TYPE_CODE["VIEW"]
DAY = 86_400.0


def test_last_basket_cuts() -> None:
    # user 0 bought at t=10 and t=20 (two moments) -> cut 20; user 1 bought twice at t=5 (one
    # moment) -> no validation basket; user 2 only viewed -> none
    ev_user = np.array([0, 0, 0, 1, 1, 2])
    ev_type = np.array([V, P, P, P, P, V])
    ev_time = np.array([1.0, 10.0, 20.0, 5.0, 5.0, 3.0])
    cuts = last_basket_cuts(ev_user, ev_type, ev_time, 3)
    assert cuts.tolist() == [20.0, np.inf, np.inf]


def _inter(kind: str) -> Interactions:
    # user 0: view i0 at day 0, buys i1 at day 1, i2 at day 2, i3 at day 30
    # user 1: buys i0 at day 40, i2 at day 41
    items = pd.DataFrame({"item_id": ["i0", "i1", "i2", "i3"], "text": ["a", "b", "c", "d"]})
    return Interactions(
        items=items, item_texts=["a", "b", "c", "d"], user_ids=np.array(["u0", "u1"]),
        ev_item=np.array([0, 1, 2, 3, 0, 2]), ev_type=np.array([V, P, P, P, P, P]),
        ev_time=np.array([0.0, 1.0, 2.0, 30.0, 40.0, 41.0]) * DAY,
        user_start=np.array([0, 4, 6]), train_end=42 * DAY, test=pd.DataFrame(), fingerprint="x",
        split_kind=kind,
    )


def test_per_user_validation_cuts_keep_every_users_own_sequence() -> None:
    inter = _inter("leave-last-out")
    cuts = inter.validation_cuts(14)
    assert cuts.tolist() == [30 * DAY, 41 * DAY]  # each user's last purchase moment
    ex = build_examples(inter, -np.inf, cuts, horizon_days=0, new_only=True)
    # user 0: cuts at day 1 (target i1, history = the view) and day 2 (target i2); day 30 is
    # validation. user 1: day 40 has no earlier event (no history), day 41 is validation.
    assert ex.user.tolist() == [0, 0] and ex.target.tolist() == [1, 2]
    # one global cut 14 days before the end would leave only user 0's two early baskets and
    # nothing of user 1; a time split computes exactly that
    time_cuts = _inter("time").validation_cuts(14)
    assert time_cuts.tolist() == [28 * DAY, 28 * DAY]


def test_trend_at_rounds_cuts_to_the_day_and_never_looks_ahead() -> None:
    users, items = np.array([0, 1, 2]), np.array([0, 0, 1])
    times = np.array([1.0, 1.5, 1.7]) * DAY  # all on day 1
    trend = TrendAt(users, items, times, days=14, n_items=2, by_day=True)
    # a cut at day 1.9 is rounded down to day 1 00:00: nothing of day 1 counts -> flat prior
    assert np.allclose(trend.vector(1.9 * DAY), 0.0)
    # at day 2: item 0 has 2 distinct buyers, item 1 one -> the same as trend_prior at day 2
    want = trend_prior(users, items, times, 2 * DAY, 14, 2)[0]
    assert np.allclose(trend.vector(2.3 * DAY), want) and want[0] > want[1]
    assert trend.rows(np.array([2.3, 1.9]) * DAY).shape == (2, 2)
