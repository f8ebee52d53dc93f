"""Catalogue coverage@K, hand-worked."""

import pytest

from offline.eval.coverage import catalogue_coverage


def test_union_of_top_k_over_catalogue():
    # top-2 lists: {a, b} and {b, c} -> union {a, b, c} = 3 of a 10-item catalogue -> 0.3
    # (d and e sit at rank 3, outside k = 2)
    assert catalogue_coverage([["a", "b", "d"], ["b", "c", "e"]], 10, 2) == pytest.approx(0.3)


def test_same_list_for_everyone():
    # popularity-style: everyone gets x, y -> 2 of 100 = 0.02
    assert catalogue_coverage([["x", "y"]] * 50, 100, 10) == pytest.approx(0.02)


def test_no_lists_and_bad_catalogue():
    assert catalogue_coverage([], 5, 10) == 0.0
    with pytest.raises(ValueError, match="catalogue_size"):
        catalogue_coverage([["a"]], 0, 10)
