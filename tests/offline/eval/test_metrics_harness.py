"""evaluate_recommender: hand-worked results for fixed recommend functions, and the checks."""

import math

import pytest

from offline.eval.harness import evaluate_recommender
from tests.fixtures.purchases import prepared_from
from tests.offline.data.test_metrics_protocol import TEST, TRAIN


def fixed(lists: dict[str, list[str]]):
    calls = []

    def recommend(user_ids, k, exclude):
        calls.append((list(user_ids), k, {u: set(v) for u, v in exclude.items()}))
        return [lists.get(u, [])[: k + 5] for u in user_ids]

    recommend.calls = calls
    return recommend


def test_hand_worked_metrics():
    prepared = prepared_from(TRAIN, TEST)
    fn = fixed({
        "u1": ["c", "d", "e"],    # target {c} at rank 1 -> NDCG 1, recall 1, hit 1
        "u3": ["d", "e", "a"],    # targets {x, a}: a at rank 3 -> DCG 1/log2(4) = 0.5;
                                  # IDCG (2 targets) = 1 + 1/log2(3); recall 1/min(2, k) = 0.5
        "u9": ["a", "b"],         # cold, target {b} at rank 2
    })
    result = evaluate_recommender(fn, prepared, k_list=(2, 3))
    warm, cold = result["warm"], result["cold"]
    ideal2 = 1 + 1 / math.log2(3)
    # k = 3: u1 = 1.0; u3 = 0.5 / ideal2 -> mean
    assert warm["ndcg@3"] == pytest.approx((1.0 + 0.5 / ideal2) / 2)
    assert warm["recall@3"] == pytest.approx((1.0 + 0.5) / 2)
    assert warm["hit_rate@3"] == 1.0
    # k = 2: u3 misses (a at rank 3): recall (1 + 0) / 2
    assert warm["recall@2"] == pytest.approx(0.5)
    assert warm["hit_rate@2"] == pytest.approx(0.5)
    # coverage@3: union {c, d, e, a} of pool {a, b, c, d, e} -> 0.8; tail share@3: head = {a};
    # slots c d e | d e a -> 5 of 6 are tail
    assert warm["coverage@3"] == pytest.approx(0.8)
    assert warm["tail_share@3"] == pytest.approx(5 / 6)
    # cold u9: b at rank 2: NDCG 1/log2(3), recall 1
    assert cold["users"] == 1
    assert cold["ndcg@3"] == pytest.approx(1 / math.log2(3))
    assert cold["recall@3"] == 1.0
    # the recommender saw warm exclusions and empty ones for cold users, at k = max(k_list)
    (warm_users, k, exclude), (cold_users, _, cold_exclude) = fn.calls
    assert warm_users == ["u1", "u3"] and k == 3 and exclude["u1"] == {"a", "b"}
    assert cold_users == ["u9"] and cold_exclude == {"u9": set()}


def test_violations_are_dropped_and_counted():
    prepared = prepared_from(TRAIN, TEST)
    # u1: a is excluded (bought in train), c twice, x is outside the pool -> clean list [c]
    fn = fixed({"u1": ["a", "c", "c", "x"], "u3": ["a"], "u9": ["b"]})
    result = evaluate_recommender(fn, prepared, k_list=(3,))
    assert result["checks"]["excluded_recommended"] == 1
    assert result["checks"]["repeated"] == 1
    assert result["checks"]["outside_pool"] == 1
    assert result["checks"]["short_lists"] == 3  # every clean list is shorter than 3
    assert result["warm"]["recall@3"] == pytest.approx((1.0 + 0.5) / 2)


def test_wrong_number_of_lists_is_an_error():
    prepared = prepared_from(TRAIN, TEST)
    with pytest.raises(ValueError, match="returned 1 lists for 2 users"):
        evaluate_recommender(lambda users, k, ex: [["a"]], prepared)
    with pytest.raises(ValueError, match="k_list"):
        evaluate_recommender(fixed({}), prepared, k_list=(0,))
