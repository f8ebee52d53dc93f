"""Novelty@K, hand-worked."""

import pytest

from offline.eval.novelty import novelty


def test_mean_self_information():
    # 8 users; a bought by 4 (p = 1/2 -> 1 bit), b by 1 (p = 1/8 -> 3 bits), c unseen -> counted
    # as 1 user (3 bits). Slots at k = 2: [a, b] and [c, a] -> (1 + 3 + 3 + 1) / 4 = 2.0 bits
    recs = [["a", "b", "zzz"], ["c", "a"]]
    assert novelty(recs, {"a": 4, "b": 1}, 8, 2) == pytest.approx(2.0)


def test_everyone_bought_it_is_zero():
    # p = 8/8 -> -log2(1) = 0
    assert novelty([["a"]], {"a": 8}, 8, 5) == 0.0


def test_bad_users():
    with pytest.raises(ValueError, match="n_users"):
        novelty([["a"]], {"a": 1}, 0, 5)
