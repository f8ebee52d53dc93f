"""Expected calibration error, hand-worked."""

import numpy as np
import pytest

from offline.ranking.ece import calibration_curve_points, expected_calibration_error


def test_ece_two_bins_hand_worked():
    # bins [0, 0.5) and [0.5, 1]
    # bin 0: p = 0.1, 0.3 (mean 0.2), y = 0, 0 (rate 0) -> |0 - 0.2| * 2/4 = 0.1
    # bin 1: p = 0.6, 0.9 (mean 0.75), y = 1, 1 (rate 1) -> |1 - 0.75| * 2/4 = 0.125
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.3, 0.6, 0.9])
    assert expected_calibration_error(y, p, n_bins=2) == pytest.approx(0.225)


def test_ece_is_zero_when_bins_match_their_rates():
    # bin [0.2, 0.3) holds p = 0.25 x4 with one positive: rate 0.25 = mean p -> 0
    y = np.array([1, 0, 0, 0])
    p = np.full(4, 0.25)
    assert expected_calibration_error(y, p, n_bins=10) == pytest.approx(0.0)


def test_probability_one_falls_in_the_last_bin_and_empty_input_is_zero():
    # p = 1.0 with y = 0: one bin, |0 - 1| * 1/1 = 1
    assert expected_calibration_error(np.array([0]), np.array([1.0]), n_bins=10) == pytest.approx(1.0)
    assert expected_calibration_error(np.array([]), np.array([])) == 0.0


def test_ece_rejects_bad_input():
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        expected_calibration_error(np.array([1]), np.array([1.5]))
    with pytest.raises(ValueError, match="values"):
        expected_calibration_error(np.array([1, 0]), np.array([0.5]))


def test_calibration_curve_points_skip_empty_bins():
    mean_p, rate, count = calibration_curve_points(
        np.array([0, 0, 1, 1]), np.array([0.1, 0.3, 0.6, 0.9]), n_bins=2
    )
    assert mean_p == pytest.approx([0.2, 0.75])
    assert rate == pytest.approx([0.0, 1.0])
    assert count.tolist() == [2.0, 2.0]
