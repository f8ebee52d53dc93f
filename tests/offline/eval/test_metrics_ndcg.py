"""NDCG@K with binary relevance, hand-worked."""

import math

import pytest

from offline.eval.ndcg import ndcg_at_k


def test_hits_at_ranks_1_and_3():
    # DCG = 1/log2(2) + 1/log2(4) = 1 + 0.5 = 1.5
    # 2 targets, k = 5: IDCG = 1/log2(2) + 1/log2(3) = 1 + 0.6309298 = 1.6309298
    expected = 1.5 / (1 + 1 / math.log2(3))
    assert ndcg_at_k(["a", "x", "b", "y", "z"], {"a", "b"}, 5) == pytest.approx(expected)
    assert expected == pytest.approx(0.919721, abs=1e-6)


def test_single_hit_at_rank_2():
    # DCG = 1/log2(3) = 0.6309; IDCG (1 target) = 1 -> 0.6309
    assert ndcg_at_k(["x", "a"], {"a"}, 10) == pytest.approx(1 / math.log2(3))


def test_ideal_is_capped_at_k():
    # 5 targets, k = 2, both slots hit: DCG = IDCG = 1 + 1/log2(3) -> 1.0
    assert ndcg_at_k(["a", "b", "c"], {"a", "b", "c", "d", "e"}, 2) == pytest.approx(1.0)


def test_repeated_item_counts_once_and_misses_are_zero():
    # a at ranks 1 and 2: only rank 1 counts; 2 targets -> DCG 1 / IDCG 1.6309 = 0.6131
    assert ndcg_at_k(["a", "a"], {"a", "b"}, 2) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert ndcg_at_k(["x"], {"a"}, 3) == 0.0


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        ndcg_at_k(["a"], {"a"}, -1)
    with pytest.raises(ValueError):
        ndcg_at_k(["a"], [], 1)
