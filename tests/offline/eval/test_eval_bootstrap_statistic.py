"""Paired bootstrap of a whole-sample statistic's ratio (PR-AUC of a method over the control)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from offline.eval.bootstrap_statistic import statistic_ratio_from_indices, statistic_ratio_interval


def test_hand_worked_average_precision_ratio():
    # rows: y = [1, 0, 1, 0]. Method a ranks both positives first: AP = 1.
    # Control b ranks row 1 (negative) first, then row 0 (pos), row 3 (neg), row 2 (pos):
    # precision at the positives = 1/2 and 2/4 -> AP = (0.5 + 0.5) / 2 = 0.5. Ratio 2.
    y = np.array([1, 0, 1, 0])
    a = np.array([0.9, 0.2, 0.8, 0.1])
    b = np.array([0.6, 0.9, 0.1, 0.3])
    # resample 1: all rows (ratio 2); resample 2: rows 0 and 1 twice (a: AP 1; b: the negative
    # first -> AP 1/2; ratio 2); resample 3: only negatives -> AP undefined, left out
    idx = np.array([[0, 1, 2, 3], [0, 1, 0, 1], [1, 3, 1, 3]])
    with np.errstate(all="ignore"):
        r = statistic_ratio_from_indices(_ap, y, a, b, idx)
    assert r["ratio"] == pytest.approx(2.0)
    assert (r["low"], r["high"]) == (pytest.approx(2.0), pytest.approx(2.0))
    assert r["undefined_resamples"] == 1 and r["resamples"] == 3


def _ap(y, s):
    return average_precision_score(y, s) if y.any() else float("nan")


def test_interval_brackets_the_point_on_noisy_scores():
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.1).astype(int)
    good = y + rng.normal(0, 0.6, 400)
    weak = y + rng.normal(0, 1.5, 400)
    r = statistic_ratio_interval(_ap, y, good, weak, resamples=200, seed=3)
    assert r["low"] < r["ratio"] < r["high"] and r["ratio"] > 1


def test_mismatched_rows_are_refused():
    with pytest.raises(ValueError, match="equal-length"):
        statistic_ratio_interval(_ap, [1, 0], [0.1], [0.2, 0.3])
