"""Leave-last-out: the bundle row is scored with the trend prior as of each user's own cut, the
same per-cut prior (``offline.model.trend_prior.TrendAt``) the +trend baselines use."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fulcrum.core.hybrid import HybridWeights, hybrid_scores
from offline.baselines.interactions import Interactions
from offline.baselines.popularity import Popularity
from offline.baselines.trend import TrendBlend
from offline.eval.slices import user_cuts
from offline.report.bundle_model import trend_days, user_trend
from tests.fixtures.timed_purchases import prepared_timed

DAY = pd.Timedelta(days=1)
T0 = pd.Timestamp("2024-01-01", tz="UTC")


def _z(raw: list[float]) -> np.ndarray:
    a = np.array(raw)
    return (a - a.mean()) / a.std()  # standardised over the catalogue (population std)


@pytest.fixture()
def llo():
    # "hot" sells to 3 users on day 5, "late" to 3 users on day 30; u1 and u2 buy "x" on day 0;
    # u1's held-out basket is "y" on day 10, u2's is "z" on day 40 (test, never in the prior)
    rows = [(f"h{i}", "hot", T0 + 5 * DAY) for i in range(3)]
    rows += [(f"l{i}", "late", T0 + 30 * DAY) for i in range(3)]
    rows += [("u1", "x", T0), ("u1", "y", T0 + 10 * DAY), ("u2", "x", T0), ("u2", "z", T0 + 40 * DAY)]
    return prepared_timed(rows, split="leave-last-out")


def test_user_trend_is_the_prior_as_of_each_users_own_day(llo):
    index = {"hot": 0, "late": 1, "x": 2, "y": 3, "z": 4}  # catalogue rows
    trend = user_trend(llo.train_events(), index, 5, days=14)
    cuts = user_cuts(llo)
    # u1 at day 10: distinct buyers in [day -4, day 10): hot 3, x 2 (u1, u2 on day 0), others 0
    u1 = _z([math.log(4), 0.0, math.log(3), 0.0, 0.0])
    assert trend.vector(cuts.of("u1")) == pytest.approx(u1, abs=1e-6)
    # u2 at day 40: [day 26, day 40): only late's 3 buyers
    u2 = _z([0.0, math.log(4), 0.0, 0.0, 0.0])
    assert trend.vector(cuts.of("u2")) == pytest.approx(u2, abs=1e-6)
    # the cut is rounded down to its day (never a look-ahead into the cut's own day)
    assert trend.vector(cuts.of("u1") + 0.4 * DAY.total_seconds()) == pytest.approx(u1, abs=1e-6)


def test_the_bundle_row_and_the_trend_baselines_share_one_prior(llo):
    cuts = user_cuts(llo)
    inter = Interactions.from_purchases(llo.train_purchases(), cuts=cuts)
    baseline = TrendBlend(Popularity(), weight=1.0)
    baseline.fit(inter)
    # over the baseline's catalogue (the train items) the bundle row's prior is the baseline's,
    # value for value, at every user's cut
    index = {str(i): j for j, i in enumerate(inter.item_ids)}
    bundle_side = user_trend(llo.train_events(), index, len(index), days=14)
    for user in ("u1", "u2"):
        assert bundle_side.vector(cuts.of(user)) == pytest.approx(baseline.trend_at(cuts.of(user)), abs=1e-6)
    # u1's prior (day 10) ranks hot first, u2's (day 40) late first
    assert inter.item_ids[int(np.argmax(bundle_side.vector(cuts.of("u1"))))] == "hot"
    assert inter.item_ids[int(np.argmax(bundle_side.vector(cuts.of("u2"))))] == "late"


def test_catalogue_takes_a_trend_override_of_its_own_length(tiny_bundle: Path):
    from fulcrum.core.bundle.loader import load_bundle

    cat = load_bundle(tiny_bundle, execution_provider="cpu", intra_op_threads=1).catalogue
    cat = dataclasses.replace(cat, hybrid=HybridWeights(neighbour=0.0, trend=1.0))
    user = cat.embeddings[:2].mean(axis=0)
    prior = np.linspace(-1.0, 1.0, len(cat))
    cosine, scores = cat.retrieval_scores(user, trend=prior)
    # z(cosine) + 1.0 * prior, the core hybrid score with the given prior (float32 cosines)
    c = cosine.astype(np.float64)
    assert scores == pytest.approx((c - c.mean()) / c.std() + prior, abs=1e-5)
    _, own = cat.retrieval_scores(user)
    assert own == pytest.approx(hybrid_scores(cosine, None, cat.trend_all, cat.hybrid))
    with pytest.raises(ValueError, match="catalogue rows"):
        cat.retrieval_scores(user, trend=prior[:-1])


def test_trend_days_is_read_from_the_manifest_or_refused():
    assert trend_days({"hybrid": {"trend_days": 14}}) == 14.0
    for bad in ({}, {"hybrid": {}}, {"hybrid": {"trend_days": 0}}, {"hybrid": {"trend_days": True}}):
        with pytest.raises(ValueError, match="trend_days"):
            trend_days(bad)


def test_bundle_model_scores_leave_last_out_users_at_their_own_cut(tiny_bundle: Path):
    from offline.data.dataset import load_prepared
    from offline.data.prepare import finalize
    from offline.data.report import CleaningReport
    from offline.report.bundle_model import BundleModel

    data = load_prepared(tiny_bundle.parent.parent / "data")
    events = pd.concat([data.train_events(), data.test_events()], ignore_index=True)
    llo_data = finalize(events, data.items, CleaningReport(source="test", path="-", raw_rows=len(events)),
                        "leave-last-out", "test")
    model = BundleModel(tiny_bundle, llo_data)
    # force a trend weight (the tiny run may have chosen 0 on its validation slice)
    model.cat = dataclasses.replace(model.cat, hybrid=HybridWeights(neighbour=0.0, trend=2.0))
    cuts = user_cuts(llo_data)
    users = sorted(u for u in cuts.by_user if u in model.profiles)
    by_day = {}
    for u in users:
        by_day.setdefault(np.floor(cuts.of(u) / 86_400.0), u)
    assert len(by_day) >= 2, "the fixture should hold held-out baskets on different days"
    u, v = list(by_day.values())[:2]
    days = trend_days(model.manifest)
    shared = user_trend(llo_data.train_events(), dict(model.cat.index), len(model.cat), days)
    assert model.trend_of(u) == pytest.approx(shared.vector(cuts.of(u)))
    assert not np.allclose(model.trend_of(u), model.trend_of(v))
    # the candidates' scores are the core hybrid score with that user's prior, not the bundle's
    model.candidates([u], {})
    got = model.cached(u)
    assert got is not None
    hist = model.bundle.user_encoder([_history(model, u)])[0]
    want = hybrid_scores(model.cat.embeddings @ hist, None, shared.vector(cuts.of(u)), model.cat.hybrid)
    assert got.retrieval == pytest.approx(want[got.idx])
    # a time split keeps the bundle's own prior (the prior as of the cut-off)
    timed = BundleModel(tiny_bundle, data)
    assert timed.trend_of(users[0]) is None


def _history(model, user):
    from offline.report.bundle_model import history

    return history(model.profiles[user], model.cat, model.now(user), model.max_len)
