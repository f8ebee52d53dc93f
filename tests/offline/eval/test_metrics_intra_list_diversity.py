"""Intra-list diversity@K, hand-worked."""

import numpy as np
import pytest

from offline.eval.intra_list_diversity import intra_list_diversity

EMB = {
    "x": np.array([1.0, 0.0]),
    "y": np.array([0.0, 1.0]),
    "x2": np.array([3.0, 0.0]),  # same direction as x
    "xy": np.array([1.0, 1.0]),  # 45 degrees: cosine with x = 1/sqrt(2)
}


def test_orthogonal_and_identical_directions():
    # x vs y: cosine 0 -> distance 1; x vs x2: cosine 1 -> distance 0
    assert intra_list_diversity(["x", "y"], EMB, 10) == pytest.approx(1.0)
    assert intra_list_diversity(["x", "x2"], EMB, 10) == pytest.approx(0.0)


def test_three_items_mean_of_three_pairs():
    # pairs: x-y distance 1; x-xy 1 - 0.70711 = 0.29289; y-xy 0.29289
    # mean = (1 + 0.29289 + 0.29289) / 3 = 0.52860
    expected = (1 + 2 * (1 - 1 / np.sqrt(2))) / 3
    assert intra_list_diversity(["x", "y", "xy"], EMB, 3) == pytest.approx(expected)
    assert expected == pytest.approx(0.528595, abs=1e-6)


def test_k_cut_and_unknown_items():
    # k = 2 keeps x, x2 only (y is cut) -> 0.0; unknown items are skipped; one item -> 0.0
    assert intra_list_diversity(["x", "x2", "y"], EMB, 2) == pytest.approx(0.0)
    assert intra_list_diversity(["x", "nope"], EMB, 5) == 0.0
