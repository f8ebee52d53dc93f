"""Hand-worked tests of the pure re-ranking rules (fulcrum/core/rerank/), one section per rule."""

from __future__ import annotations

import numpy as np
import pytest

from fulcrum.core.bundle.retrieval import top_candidates
from fulcrum.core.profile import UserProfile
from fulcrum.core.rerank.anti_recommendation import blocked_items
from fulcrum.core.rerank.cold_start import cold_start_scores
from fulcrum.core.rerank.diversity import mmr, normalise
from fulcrum.core.rerank.exploration import exploration_count, exploration_positions, thompson_sample
from fulcrum.core.rerank.slots import fill_slots

# ---- anti-recommendation -----------------------------------------------------------------------

PROFILE = UserProfile(
    user_id="u",
    bought=frozenset({"a", "b"}),
    cancelled=frozenset({"c"}),
    disliked=frozenset({"d"}),
    ignored={"e": 3, "f": 2},
)


def test_blocks_bought_cancelled_disliked_ignored_and_excluded():
    # bought a,b + cancelled c + disliked d + e shown 3 times (>= 3) + request exclude g; f (2) stays
    assert blocked_items(PROFILE, False, 3, ["g"]) == {"a", "b", "c", "d", "e", "g"}


def test_repurchase_allowed_unblocks_only_bought():
    # consumables: a,b come back; cancelled/disliked/ignored/excluded stay blocked
    assert blocked_items(PROFILE, True, 3, ["g"]) == {"c", "d", "e", "g"}


def test_ignored_threshold_is_inclusive():
    # threshold 2: f (shown 2 times without a click) is now blocked too
    assert "f" in blocked_items(PROFILE, True, 2)
    assert blocked_items(UserProfile(user_id="new"), False, 3) == frozenset()


# ---- cold start ----------------------------------------------------------------------------------


def test_cold_start_without_context_is_popularity():
    pop = np.array([1.0, 0.5, 0.0])
    assert cold_start_scores(pop, None).tolist() == [1.0, 0.5, 0.0]


def test_cold_start_mixes_context_similarity():
    # sim [-1, 1, 0] -> [0, 1, 0.5] in [0, 1]; 0.5*pop + 0.5*sim01 = [0.5, 0.75, 0.25]
    got = cold_start_scores(np.array([1.0, 0.5, 0.0]), np.array([-1.0, 1.0, 0.0]), 0.5)
    assert got == pytest.approx([0.5, 0.75, 0.25])
    # weight 1: context alone
    assert cold_start_scores(np.array([1.0, 0.0]), np.array([0.0, 1.0]), 1.0) == pytest.approx([0.5, 1.0])


# ---- exploration -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "k,share,expected",
    [
        (10, 0.2, 2),  # 2.0
        (5, 0.1, 1),  # 0.5 rounds half up to 1
        (4, 0.1, 0),  # 0.4 -> 0
        (1, 0.5, 0),  # the only slot is never exploration
        (3, 1.0, 2),  # at most k - 1: slot 0 stays exploitation
        (10, 0.0, 0),
    ],
)
def test_exploration_count(k, share, expected):
    assert exploration_count(k, share) == expected


def test_exploration_positions_spread_and_skip_first():
    assert exploration_positions(10, 2) == [3, 6]  # 1*10//3, 2*10//3
    assert exploration_positions(5, 1) == [2]  # 5//2
    assert exploration_positions(3, 2) == [1, 2]  # 3//3, 6//3
    assert exploration_positions(7, 0) == []


def test_thompson_prefers_proven_items_when_posteriors_are_tight():
    # 1000 trials each: posteriors ~N(0.9, .01), N(0.01, .003), N(0.5, .016) -> 0 then 2, any seed
    purchases, impressions = np.array([900, 10, 500]), np.array([1000, 1000, 1000])
    for seed in range(20):
        assert thompson_sample(purchases, impressions, 2, np.random.default_rng(seed)).tolist() == [0, 2]


def test_thompson_is_reproducible_with_a_seed():
    p, i = np.arange(20), np.arange(20) * 3
    a = thompson_sample(p, i, 5, np.random.default_rng(7))
    b = thompson_sample(p, i, 5, np.random.default_rng(7))
    assert a.tolist() == b.tolist() and len(set(a.tolist())) == 5


def test_thompson_gives_new_items_their_chance():
    # A: 10 purchases / 100 impressions -> Beta(11, 91), mean 11/102 = 0.108.
    # B: brand new -> Beta(1, 1) = Uniform(0, 1).  P(B wins) = P(U > A) = 1 - E[A] = 0.892.
    rng = np.random.default_rng(0)
    wins = sum(thompson_sample(np.array([10, 0]), np.array([100, 0]), 1, rng)[0] == 1 for _ in range(2000))
    assert 0.86 < wins / 2000 < 0.92  # 4 standard deviations (0.007) around 0.892


def test_thompson_uses_purchases_as_a_floor_for_trials():
    # impressions not logged (0) but 50 purchases: trials = 50 -> Beta(51, 1), draws ~0.98,
    # beats an item with 5 purchases in 100 impressions (Beta(6, 96), ~0.06)
    got = thompson_sample(np.array([50, 5]), np.array([0, 100]), 1, np.random.default_rng(1))
    assert got.tolist() == [0]


# ---- diversity (MMR) ---------------------------------------------------------------------------

EMB = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # item 1 duplicates item 0
REL = np.array([1.0, 0.9, 0.0])


def test_mmr_without_weight_is_relevance_order():
    assert mmr(REL, EMB, 3, 0.0).tolist() == [0, 1, 2]


def test_mmr_pushes_a_duplicate_down():
    # rel normalised = [1, .9, 0]. Step 1: .5*rel -> pick 0. max_sim = [1, 1, 0].
    # Step 2: item1 .5*.9 - .5*1 = -.05; item2 .5*0 - .5*0 = 0 -> pick 2. Step 3: 1.
    assert mmr(REL, EMB, 3, 0.5).tolist() == [0, 2, 1]


def test_mmr_small_weight_keeps_relevance():
    # Step 2 at w=.04: item1 .96*.9 - .04*1 = .824 > item2 0 -> [0, 1, 2]
    assert mmr(REL, EMB, 3, 0.04).tolist() == [0, 1, 2]
    assert mmr(REL, EMB, 2, 0.5).tolist() == [0, 2]


def test_normalise_min_max_and_constant():
    assert normalise(np.array([2.0, 4.0, 3.0])).tolist() == [0.0, 1.0, 0.5]
    assert normalise(np.array([5.0, 5.0])).tolist() == [1.0, 1.0]


# ---- slot merging and retrieval --------------------------------------------------------------------


def test_fill_slots_places_exploration_at_positions():
    assert fill_slots(["a", "b", "c", "d"], ["x", "y"], [1, 3], 5) == ["a", "x", "b", "y", "c"]


def test_fill_slots_when_exploration_runs_short_or_duplicates():
    assert fill_slots(["a", "b", "c", "d"], ["x"], [1, 3], 5) == ["a", "x", "b", "c", "d"]
    # b picked by exploration at slot 1 is not repeated when exploitation reaches it
    assert fill_slots(["a", "b", "c"], ["b"], [1], 3) == ["a", "b", "c"]
    assert fill_slots(["a"], [], [1], 3) == ["a"]


def test_top_candidates_skips_blocked_and_sorts():
    scores = np.array([0.1, 0.9, 0.5, 0.7])
    blocked = np.array([False, True, False, False])
    assert top_candidates(scores, 2, blocked).tolist() == [3, 2]
    assert top_candidates(scores, 10, blocked).tolist() == [3, 2, 0]
    assert top_candidates(scores, 2).tolist() == [1, 3]


def test_mmr_pool_keeps_the_best_candidates_in_order():
    from fulcrum.core.rerank.diversity import POOL_MIN, mmr_pool

    rel = np.arange(100, dtype=float)  # candidate i has relevance i
    # k = 4 -> max(50, 5 * 4) = 50 best: 99, 98, ..., 50
    assert mmr_pool(rel, 4).tolist() == list(range(99, 49, -1)) and POOL_MIN == 50
    # k = 12 -> 60 best; fewer candidates than the pool -> all, best first
    assert len(mmr_pool(rel, 12)) == 60
    assert mmr_pool(np.array([0.2, 0.9, 0.5]), 4).tolist() == [1, 2, 0]


def test_tail_mask_hand_worked():
    from fulcrum.core.rerank.tail_boost import tail_mask

    # 3 items were purchased -> ceil(0.2 x 3) = 1 head item (rank 0); never-purchased items are tail
    assert tail_mask(np.array([0, 1, 2, 3, 4]), np.array([5, 4, 3, 0, 0])).tolist() == [
        False, True, True, True, True
    ]
    # 10 purchased -> 2 head items (ranks 0 and 1), whatever the row order
    ranks = np.array([9, 0, 5, 1, 2, 3, 4, 6, 7, 8])
    assert np.flatnonzero(~tail_mask(ranks, np.ones(10))).tolist() == [1, 3]
