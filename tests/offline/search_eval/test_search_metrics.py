"""evaluate-search's metrics, bootstrap, judged-set reader and split (hand-worked)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from offline.search_eval import bootstrap
from offline.search_eval.judged import JudgedSetError, is_validation, load_judged
from offline.search_eval.metrics import judged_fraction, ndcg_at_k, recall_at_k, reciprocal_rank

GRADES = {"a": 3, "b": 2, "c": 0, "d": 1}


def test_ndcg_uses_exponential_gain_and_counts_unjudged_as_zero() -> None:
    # ranked x (unjudged), b, a: DCG = 0 + 3/log2(3) + 7/log2(4) = 1.8928 + 3.5
    # ideal a, b, d: 7/1 + 3/log2(3) + 1/2 = 9.3928
    dcg = 3 / math.log2(3) + 7 / 2
    ideal = 7 + 3 / math.log2(3) + 1 / 2
    assert ndcg_at_k(["x", "b", "a"], GRADES, 10) == pytest.approx(dcg / ideal)
    assert ndcg_at_k(["a", "b", "d"], GRADES, 10) == pytest.approx(1.0)
    # k cuts both the list and the ideal: top 1 = b -> 3 / 7
    assert ndcg_at_k(["b", "a"], GRADES, 1) == pytest.approx(3 / 7)
    assert ndcg_at_k([], GRADES) == 0.0 and ndcg_at_k(["a"], {"a": 0}) == 0.0


def test_recall_mrr_and_judged_fraction() -> None:
    assert recall_at_k(["x", "a", "c"], GRADES, 50) == 0.5  # a of {a, b}
    assert recall_at_k(["b"], GRADES, 0) == 0.0
    assert recall_at_k(["a"], {"a": 1}) is None  # nothing with grade >= 2
    assert reciprocal_rank(["x", "b", "a"], GRADES) == pytest.approx(1 / 3)
    assert reciprocal_rank(["b"], GRADES) == 0.0
    assert reciprocal_rank(["b"], {"b": 2}) is None
    assert judged_fraction(["a", "x", "c", "y"], GRADES, 10) == 0.5
    assert judged_fraction([], GRADES) is None


def test_bootstrap_intervals_are_seeded_and_paired() -> None:
    draws = bootstrap.resamples(4, n=500, seed=3)
    assert draws.shape == (500, 4) and np.array_equal(draws, bootstrap.resamples(4, n=500, seed=3))
    lo, hi = bootstrap.interval(np.array([1.0, 1.0, 1.0, 1.0]), draws)
    assert lo == hi == 1.0
    # a beats b by exactly 0.1 on every query: the paired difference has no spread
    d = bootstrap.paired_difference(np.array([0.5, 0.6, 0.7, 0.8]), np.array([0.4, 0.5, 0.6, 0.7]), draws)
    assert d["mean"] == pytest.approx(0.1) and d["low"] == pytest.approx(0.1) and d["p_not_better"] == 0.0


def test_judged_set_reads_ids_as_strings_and_refuses_broken_files(tmp_path) -> None:
    q, j = tmp_path / "q.csv", tmp_path / "j.csv"
    q.write_text("query_id,query,kind\n1,red heart,head\n2,lamp,\n")
    j.write_text("query_id,item_id,grade\n1,00123,3\n1,84029E,0\n2,7,2\n")
    judged = load_judged(q, j)
    assert judged[0].grades == {"00123": 3.0, "84029E": 0.0} and judged[1].kind == "all"
    j.write_text("query_id,item_id,grade\n1,00123,high\n2,7,2\n")
    with pytest.raises(JudgedSetError, match="j.csv:2: grade 'high'"):
        load_judged(q, j)
    j.write_text("query_id,item_id,grade\n1,00123,3\n")
    with pytest.raises(JudgedSetError, match="query 2 has no judgments"):
        load_judged(q, j)


def test_validation_split_is_a_deterministic_hash_of_the_query_id() -> None:
    ids = [f"q{i:02d}" for i in range(200)]
    chosen = [i for i in ids if is_validation(i, 0.3)]
    assert chosen == [i for i in ids if is_validation(i, 0.3)]
    assert 40 <= len(chosen) <= 80  # about 30 % of 200
    assert not any(is_validation(i, 0.0) for i in ids)


def test_fusion_choice_prefers_a_hybrid_within_the_margin() -> None:
    from offline.search_eval.tuning import pick

    rows = [
        {"validation_ndcg@10": 0.920, "hybrid": False},
        {"validation_ndcg@10": 0.905, "hybrid": True},  # 0.015 behind: outside the 0.01 margin
        {"validation_ndcg@10": 0.912, "hybrid": True},  # 0.008 behind: chosen
        {"validation_ndcg@10": 0.912, "hybrid": True},  # a tie: the earlier one wins
    ]
    assert pick(rows) == 2
    assert pick(rows, margin=0.0) == 0  # no margin: the best, one-sided or not
    far = [{"validation_ndcg@10": 0.8, "hybrid": True}, {"validation_ndcg@10": 0.9, "hybrid": False}]
    assert pick(far) == 1
