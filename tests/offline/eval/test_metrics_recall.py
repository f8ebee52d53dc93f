"""Recall@K, hand-worked."""

import pytest

from offline.eval.recall import recall_at_k


def test_two_of_three_targets_in_top_5():
    # top-5 = a b c d e; targets {b, e, z}: hits b, e = 2; denominator min(3, 5) = 3 -> 2/3
    assert recall_at_k(["a", "b", "c", "d", "e", "f"], {"b", "e", "z"}, 5) == pytest.approx(2 / 3)


def test_denominator_is_capped_at_k():
    # 4 targets, k = 2, both slots hit: 2 / min(4, 2) = 1.0 (plain recall would say 0.5)
    assert recall_at_k(["a", "b"], {"a", "b", "c", "d"}, 2) == 1.0


def test_hits_beyond_k_do_not_count_and_duplicates_count_once():
    # top-3 = a a x: one distinct hit (a); c at rank 4 is cut; 1 / min(2, 3) = 0.5
    assert recall_at_k(["a", "a", "x", "c"], {"a", "c"}, 3) == 0.5


def test_miss_and_empty_list():
    assert recall_at_k(["x", "y"], {"a"}, 10) == 0.0
    assert recall_at_k([], {"a"}, 10) == 0.0


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="k"):
        recall_at_k(["a"], {"a"}, 0)
    with pytest.raises(ValueError, match="relevant"):
        recall_at_k(["a"], set(), 5)
