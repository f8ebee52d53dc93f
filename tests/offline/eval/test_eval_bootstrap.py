"""Paired bootstrap intervals for model/baseline ratios, worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from offline.eval.bootstrap import paired_ratio_interval, ratio_interval_from_indices, resample_ratios


def test_ratio_interval_over_given_resamples():
    # a = [1, 3], b = [1, 1]; resamples {0,0}: 1/1 = 1; {0,1}: 2/1 = 2; {1,1}: 3/1 = 3
    r = ratio_interval_from_indices([1.0, 3.0], [1.0, 1.0], np.array([[0, 0], [0, 1], [1, 1]]))
    assert r["ratio"] == pytest.approx(2.0)  # mean(a) / mean(b) = 2 / 1
    # percentile without interpolation: the 2.5 % quantile of {1, 2, 3} is 1, the 97.5 % one is 3
    assert (r["low"], r["high"]) == (1.0, 3.0)
    assert r["users"] == 2 and r["resamples"] == 3


def test_pairing_removes_shared_user_variance():
    # the model doubles every user's score: every paired resample has ratio exactly 2, so the
    # interval collapses, though users differ wildly
    base = np.array([0.0, 0.1, 0.9, 0.3, 0.05])
    r = paired_ratio_interval(2 * base, base, resamples=500, seed=1)
    assert (
        r["ratio"] == pytest.approx(2.0)
        and r["low"] == pytest.approx(2.0)
        and r["high"] == pytest.approx(2.0)
    )


def test_zero_baseline_resamples_are_infinite_not_nan():
    # b scores only on user 1: a resample of user 0 alone gives 1/0 -> +inf; both zero -> undefined
    ratios = resample_ratios(np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([[0, 0], [1, 1], [0, 1]]))
    assert ratios.tolist() == [np.inf, 0.0, 1.0]
    assert np.isnan(resample_ratios(np.zeros(2), np.zeros(2), np.array([[0, 1]]))).all()
    r = ratio_interval_from_indices([0.0, 0.0], [0.0, 0.0], np.array([[0, 1]]))
    assert r["ratio"] is None and r["low"] is None and r["undefined_resamples"] == 1
    # a = [1, 0, 0], b = [0, 1, 0]: resamples {2,2} (0/0) are left out; {0,1}: 1, {1,1}: 0, {0,0}: inf
    r = ratio_interval_from_indices(
        [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], np.array([[2, 2], [0, 1], [1, 1], [0, 0]])
    )
    assert r["undefined_resamples"] == 1 and (r["low"], r["high"]) == (0.0, np.inf)


def test_interval_covers_the_point_and_is_seeded():
    rng = np.random.default_rng(3)
    b = rng.random(300)
    a = b * 1.2 + rng.normal(0, 0.05, 300).clip(-b, None)
    r1 = paired_ratio_interval(a, b, resamples=400, seed=7)
    r2 = paired_ratio_interval(a, b, resamples=400, seed=7)
    assert r1 == r2
    assert r1["low"] < r1["ratio"] < r1["high"]


@pytest.mark.parametrize(("a", "b"), [([1.0], [1.0, 2.0]), ([], [])])
def test_unpaired_input_is_refused(a, b):
    with pytest.raises(ValueError, match="paired values"):
        paired_ratio_interval(a, b)
