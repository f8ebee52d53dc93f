"""The ratio cells of the bench quality table, worked by hand."""

from __future__ import annotations

import math

from offline.eval.quality_markdown import _interval


def test_ratio_cells_name_what_a_zero_baseline_means():
    assert _interval(None) == "-"
    assert _interval({"ratio": None, "low": None, "high": None}) == "undefined (both score 0)"
    # the model scores, the baseline does not: no ratio (was printed as "n/a [inf, inf]")
    zero_baseline = {"ratio": None, "low": math.inf, "high": math.inf}
    assert _interval(zero_baseline) == "undefined (the baseline scores 0)"
    assert _interval({"ratio": 1.08, "low": 1.04, "high": 1.126}) == "1.08× [1.04, 1.13]"
    # some resamples leave the baseline at 0: the upper end is infinite
    assert _interval({"ratio": 1.0, "low": 0.0, "high": math.inf}) == "1.00× [0.00, ∞]"
