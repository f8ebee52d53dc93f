"""Resampling of the head's input vectors reaches the asked minority/majority ratio."""

import numpy as np
import pytest

from offline.ranking.gan_oversampler import gan_oversample
from offline.ranking.resample import IMBLEARN_METHODS, resample


def _data():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 1, (400, 4)), rng.normal(3, 1, (20, 4))])
    y = np.array([0] * 400 + [1] * 20)
    return x, y


@pytest.mark.parametrize("method", IMBLEARN_METHODS)
def test_imblearn_methods_reach_the_ratio(method):
    x, y = _data()
    xr, yr = resample(x, y, method, ratio=0.5, k=3, seed=0)
    n_pos, n_neg = (yr == 1).sum(), (yr == 0).sum()
    if method == "random_under":  # 20 positives kept, negatives cut to 20 / 0.5 = 40
        assert (n_pos, n_neg) == (20, 40)
    elif method == "adasyn":  # ADASYN's count is approximate by design
        assert n_neg == 400 and 150 <= n_pos <= 250
    else:  # oversampling to 0.5 * 400 = 200 positives
        assert (n_pos, n_neg) == (200, 400)
    assert xr.shape == (len(yr), 4)


def test_resample_is_a_no_op_above_the_ratio_and_rejects_one_class():
    x, y = _data()
    xr, yr = resample(x, y, "smote", ratio=0.01)
    assert len(yr) == len(y)
    with pytest.raises(ValueError, match="both classes"):
        resample(x, np.zeros(len(y)), "smote", 0.5)
    with pytest.raises(ValueError, match="resampling method"):
        resample(x, y, "tomek", 0.5)


def test_gan_oversampler_adds_minority_rows_near_the_minority():
    x, y = _data()
    xr, yr = gan_oversample(x, y, ratio=0.25, epochs=60, seed=0)
    assert (yr == 1).sum() == 100 and (yr == 0).sum() == 400  # 0.25 * 400
    synth = xr[len(y) :]
    # minority rows sit around 3, the majority around 0: synthetic rows should be nearer 3
    assert abs(synth.mean() - 3.0) < abs(synth.mean() - 0.0)
