"""ALS + trend / item-kNN + trend: Fulcrum's trend prior blended into a baseline, by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from offline.baselines.interactions import Interactions
from offline.baselines.popularity import Popularity
from offline.baselines.scoring import ScoreRecommender
from offline.baselines.trend import TrendBlend
from offline.eval.slices import user_cuts
from tests.fixtures.timed_purchases import CUTOFF, prepared_timed

DAY = pd.Timedelta(days=1)


@pytest.fixture()
def fitted():
    # "old": 3 buyers 30 days before the cut (outside the 14-day trend window);
    # "new": 2 buyers 3 days before; "mid": 1 buyer 5 days before. Test: one purchase after the cut.
    rows = [
        ("u1", "old", CUTOFF - 30 * DAY),
        ("u2", "old", CUTOFF - 30 * DAY),
        ("u3", "old", CUTOFF - 30 * DAY),
        ("u4", "new", CUTOFF - 3 * DAY),
        ("u5", "new", CUTOFF - 3 * DAY),
        ("u1", "mid", CUTOFF - 5 * DAY),
        ("u2", "new", CUTOFF + DAY),
    ]
    data = prepared_timed(rows)
    inter = Interactions.from_purchases(data.train_purchases(), cuts=user_cuts(data))
    model = TrendBlend(Popularity(), weight=0.0)
    model.fit(inter)
    return inter, model


def test_trend_prior_is_fulcrums_hand_worked(fitted):
    inter, model = fitted
    assert list(inter.item_ids) == ["mid", "new", "old"]
    # distinct buyers in [cut - 14 d, cut): mid 1, new 2, old 0 -> log1p = ln 2, ln 3, 0, then
    # standardised over the catalogue (population std)
    raw = np.array([math.log(2), math.log(3), 0.0])
    expected = (raw - raw.mean()) / raw.std()  # ~ [0.211, 1.105, -1.317]
    assert model.trend_at(inter.cuts.default) == pytest.approx(expected, abs=1e-6)


def test_weight_moves_the_trending_item_up(fitted):
    inter, model = fitted
    fn = ScoreRecommender(model, inter)
    # weight 0: the base's own order, popularity (old 3 buyers, new 2, mid 1)
    assert fn(["stranger"], 3, {}) == [["old", "new", "mid"]]
    # weight 1: z(popularity) = [mid -1.225, new 0, old 1.225] plus the prior [0.211, 1.105, -1.317]
    # = [-1.01, 1.105, -0.09]: new, old, mid
    model.set_knob(trend_weight=1.0)
    assert fn(["stranger"], 3, {}) == [["new", "old", "mid"]]
    # a warm user is blended the same way (their own items excluded by the harness rules)
    assert fn(["u4"], 2, {"u4": {"new"}}) == [["old", "mid"]]
    assert model.settings["trend_weight"] == 1.0 and model.name == "popularity+trend"


def test_negative_weight_is_refused(fitted):
    _, model = fitted
    with pytest.raises(ValueError, match="trend_weight"):
        model.set_knob(trend_weight=-0.5)


def test_leave_last_out_uses_each_users_own_day():
    # u1 is held out on day 10 (their last basket), u2 on day 40; "hot" sold to 3 users on day 5
    # and "late" to 3 users on day 30. u1's prior (as of day 10) favours "hot", u2's "late".
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    rows = [(f"h{i}", "hot", t0 + 5 * DAY) for i in range(3)] + [
        (f"l{i}", "late", t0 + 30 * DAY) for i in range(3)
    ]
    rows += [("u1", "x", t0), ("u1", "y", t0 + 10 * DAY), ("u2", "x", t0), ("u2", "z", t0 + 40 * DAY)]
    data = prepared_timed(rows, split="leave-last-out")
    cuts = user_cuts(data)
    assert cuts.per_user and cuts.of("u1") == (t0 + 10 * DAY).timestamp()
    inter = Interactions.from_purchases(data.train_purchases(), cuts=cuts)
    model = TrendBlend(Popularity(), weight=3.0)
    model.fit(inter)
    fn = ScoreRecommender(model, inter)
    assert fn(["u1"], 1, {"u1": {"x"}})[0] == ["hot"]
    assert fn(["u2"], 1, {"u2": {"x"}})[0] == ["late"]
