"""HitRate@K, hand-worked."""

import pytest

from offline.eval.hit_rate import hit_rate_at_k


def test_hit_inside_and_outside_k():
    # c is at rank 3: inside k = 3 (1.0), outside k = 2 (0.0)
    assert hit_rate_at_k(["a", "b", "c"], {"c"}, 3) == 1.0
    assert hit_rate_at_k(["a", "b", "c"], {"c"}, 2) == 0.0


def test_many_hits_still_one():
    assert hit_rate_at_k(["a", "b"], {"a", "b"}, 2) == 1.0


def test_rejects_empty_targets():
    with pytest.raises(ValueError):
        hit_rate_at_k(["a"], set(), 1)
