"""fulcrum.core.rank_features: the ranker's input vector, hand-worked."""

import math

import numpy as np
import pytest

from fulcrum.core.profile import UserProfile
from fulcrum.core.rank_features import N_RANK_FEATURES, RANK_FEATURES, ItemStats, rank_features

DAY = 86_400.0
NOW = 1_000_000_000.0


def _items(**over):
    base = dict(
        item_ids=("a", "c"),
        purchases=np.array([9.0, -1.0]),
        cancel_rate=np.array([0.1, 0.0]),
        price=np.array([math.e - 1.0, -5.0]),
        first_seen=np.array([NOW - (math.e - 1.0) * DAY, np.nan]),
        popularity_pct=np.array([1.0, 0.25]),
    )
    base.update(over)
    return ItemStats(**base)


def test_feature_names_and_count_agree():
    assert N_RANK_FEATURES == len(RANK_FEATURES) == 13
    assert RANK_FEATURES[0] == "retrieval_score"


def test_warm_user_hand_worked():
    profile = UserProfile(
        user_id="u",
        recent_items=("a", "b"),
        purchase_count=3.0,
        cancel_count=1.0,
        distinct_items=2.0,
        last_active=NOW - 2 * DAY,
        bought=frozenset({"a", "b"}),
        cancelled=frozenset({"b"}),
    )
    x = rank_features(profile, _items(), np.array([0.5, -0.2]), NOW)
    assert x.dtype == np.float32 and x.shape == (2, N_RANK_FEATURES)
    # user part, identical on both rows:
    #   log1p(3) = log 4; log1p(1) = log 2; cancel rate 1 / (3 + 1 + 1) = 0.2;
    #   inactive 2 days -> log 3; distinct 2 -> log 3
    user = [math.log(4), math.log(2), 0.2, math.log(3), math.log(3)]
    # item "a": purchases 9 -> log 10; cancel rate 0.1; price e - 1 -> log1p = 1; age e - 1 days -> 1;
    #   popularity 1.0; bought before 1; cancelled before 0 ("b" was cancelled, not "a")
    row_a = [0.5, *user, math.log(10), 0.1, 1.0, 1.0, 1.0, 1.0, 0.0]
    # item "c": purchases -1 clipped to 0 -> 0; price -5 clipped -> 0; first seen unknown -> 0;
    #   popularity 0.25; never bought or cancelled
    row_c = [-0.2, *user, 0.0, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0]
    assert x[0] == pytest.approx(np.array(row_a, dtype=np.float32), abs=1e-6)
    assert x[1] == pytest.approx(np.array(row_c, dtype=np.float32), abs=1e-6)


def test_cold_user_and_future_first_seen():
    cold = UserProfile(user_id="new")
    items = _items(first_seen=np.array([NOW + 5 * DAY, NOW - 0.0]))  # a clock skew must not go negative
    x = rank_features(cold, items, np.zeros(2), NOW)
    # no history: counts, rate, inactivity and distinct items are all 0; age clipped at 0 -> log1p(0) = 0
    assert x[:, 1:6] == pytest.approx(np.zeros((2, 5)))
    assert x[:, 9] == pytest.approx([0.0, 0.0])
    assert x[:, 11:].sum() == 0.0


def test_scores_must_align_with_items():
    with pytest.raises(ValueError, match="scores has shape"):
        rank_features(UserProfile(user_id="u"), _items(), np.zeros(3), NOW)


def test_empty_candidate_list_gives_an_empty_matrix():
    empty = ItemStats((), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))
    assert rank_features(UserProfile(user_id="u"), empty, np.zeros(0), NOW).shape == (0, N_RANK_FEATURES)
