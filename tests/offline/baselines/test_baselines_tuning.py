"""Baselines tuned on the validation slice (never the test), through `run_baselines`."""

from __future__ import annotations

import numpy as np
import pytest

from offline.baselines.bpr import BPR
from offline.baselines.interactions import Interactions
from offline.baselines.registry import COMPARISON, run_baselines
from offline.baselines.scoring import ScoreRecommender
from offline.baselines.tuning import Spec, TuningError, choose
from offline.eval.protocol import protocol_for
from offline.eval.slices import user_cuts, validation_of
from tests.fixtures.purchases import prepared_from
from tests.fixtures.timed_purchases import community_timed


class Fixed:
    """A scorer whose validation quality is set by hand: ``good`` ranks the user's own group first."""

    name = "fixed"

    def __init__(self, good: bool, bonus: float = 0.0) -> None:
        self.good, self.bonus, self.settings = good, bonus, {"good": good}

    def fit(self, inter: Interactions) -> None:
        self.inter = inter
        self.groups = np.array([i.split("-")[0] for i in inter.item_ids])

    def set_knob(self, bonus: float) -> None:
        self.bonus = bonus

    def score(self, rows):
        out = []
        for r in rows:
            own = self.inter.user_ids[r].split("-")[0][1:]
            same = (self.groups == f"g{own}").astype(float)
            out.append(same * (1.0 if self.good else -1.0) + self.bonus)
        return np.array(out)

    def score_unknown(self):
        return np.zeros(len(self.inter.item_ids))


@pytest.fixture(scope="module")
def data():
    return community_timed()


def test_choose_keeps_the_best_point_and_ties_go_first(data):
    val = validation_of(data)
    proto = protocol_for(val)
    inter = Interactions.from_purchases(val.train_purchases(), cuts=user_cuts(val))
    spec = Spec(
        make=lambda p: Fixed(**p),
        grid=({"good": False}, {"good": True}),
        knobs=({"bonus": 0.0}, {"bonus": 5.0}),
    )
    choice = choose(spec, spec.grid, inter, val, proto)
    # the good scorer finds the 2 validation items among the 7 unbought group items; the bad one
    # ranks its own group last: good wins. A constant bonus changes no order: a tie, the first knob wins
    assert choice.params == {"good": True} and choice.knob == {"bonus": 0.0}
    assert len(choice.points) == 4
    scores = [p["validation_ndcg@10"] for p in choice.points]
    assert scores[2] == scores[3] > scores[0] == scores[1]


def test_no_validation_users_is_a_loud_error():
    # every purchase on one day: the last 14 days of train are empty, nothing to tune on
    data = prepared_from([("u1", "a"), ("u1", "b"), ("u2", "a")], [("u1", "c")])
    with pytest.raises(TuningError, match="no warm user.*--no-tune"):
        run_baselines(data, ["als"], k_list=(10,), threads=1, tune=True)


def test_tuned_entries_say_what_was_chosen_on_validation(data):
    res = run_baselines(
        data, ["itemknn", "itemknn+trend", "popularity"], k_list=(10,), threads=1, tune=True, per_user=True
    )
    knn, blend, pop = res["itemknn"], res["itemknn+trend"], res["popularity"]
    assert knn["tuning"]["tuned"] and knn["tuning"]["validation"] == "test/validation"
    assert len(knn["tuning"]["grid"]) == 4  # neighbours 20, 10, 50, 100
    # the blend searches item-kNN's grid jointly with the trend weight (4 x 12 points)
    assert len(blend["tuning"]["grid"]) == 4 * 12 and "trend_weight" in blend["tuning"]["chosen"]
    assert pop["tuning"] == {"tuned": False}
    # per-user values, in the protocol's warm-user order, average to the reported metric
    per = knn["metrics"]["per_user"]
    assert per["users"] == list(protocol_for(data).warm_users)
    assert np.mean(per["ndcg@10"]) == pytest.approx(knn["metrics"]["warm"]["ndcg@10"])
    # co-purchase structure is everything here: item-kNN finds the group
    assert knn["metrics"]["warm"]["recall@10"] > 0.6


def test_bpr_ranks_the_users_group_first(data):
    # hand-worked expectation: each user's 5 train items all come from their group, and no one
    # buys across groups, so BPR's pairwise updates push every other group below the user's own
    inter = Interactions.from_purchases(data.train_purchases(), cuts=user_cuts(data))
    model = BPR(factors=16, learning_rate=0.05, regularization=0.001, iterations=200, threads=1)
    model.fit(inter)
    recs = ScoreRecommender(model, inter)(["u0-0", "u3-5"], 3, {})
    assert all(i.startswith("g0-") for i in recs[0]) and all(i.startswith("g3-") for i in recs[1])
    assert model.settings["learning_rate"] == 0.05


def test_comparison_lists_every_issue_baseline():
    assert set(COMPARISON) == {
        "popularity",
        "itemknn",
        "als",
        "bpr",
        "zeroshot-text",
        "sasrec",
        "als+trend",
        "itemknn+trend",
        # the hybrid's rp3beta neighbour model alone and with the trend (where a gain comes from)
        "rp3beta",
        "rp3beta+trend",
    }


def test_interactions_signal_learns_from_views_but_recommends_only_the_pool():
    import pandas as pd

    from fulcrum.core import schema as S
    from offline.baselines.popularity import Popularity

    t = pd.Timestamp("2024-05-01", tz="UTC")
    events = pd.DataFrame(
        {
            S.USER_ID: ["u1", "u1", "u2", "u2", "u3", "u3"],
            S.ITEM_ID: ["v", "a", "v", "b", "b", "a"],
            S.EVENT_TYPE: ["VIEW", "PURCHASE", "VIEW", "PURCHASE", "CANCEL", "PURCHASE"],
            S.TIMESTAMP: [t] * 6,
        }
    )
    purchases = Interactions.from_events(events, "purchases")
    assert list(purchases.item_ids) == ["a", "b"]
    inter = Interactions.from_events(events, "interactions")
    # views count, the cancellation does not: v has 2 users, a 2, b 1
    assert list(inter.item_ids) == ["a", "b", "v"] and inter.distinct_buyers().tolist() == [2.0, 1.0, 2.0]
    assert inter.ev_purchase.sum() == 3
    model = Popularity()
    model.fit(inter)
    # v is the most popular interaction but was never bought: outside the candidate pool
    recs = ScoreRecommender(model, inter, pool=frozenset({"a", "b"}))(["u9"], 3, {})
    assert recs == [["a", "b"]]
    with pytest.raises(ValueError, match="signal"):
        Interactions.from_events(events, "clicks")
