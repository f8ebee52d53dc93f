"""Hand-worked values of the ranking head's losses and the undersampling correction."""

import math

import numpy as np
import pytest
import torch

from offline.ranking.losses import (
    binary_cross_entropy,
    class_balanced_bce,
    class_balanced_weights,
    focal_loss,
    logit_adjusted_bce,
    logit_adjustment_offset,
)
from offline.ranking.undersample import (
    recalibrate_undersampled,
    undersample_negatives,
    undersampling_logit_shift,
)

LOG2 = math.log(2.0)


def test_cross_entropy_at_zero_logit_is_log2():
    # sigmoid(0) = 0.5, so -log(0.5) = log 2 for either label
    loss = binary_cross_entropy(torch.zeros(2), torch.tensor([0.0, 1.0]))
    assert float(loss) == pytest.approx(LOG2, abs=1e-6)


def test_cross_entropy_of_a_confident_logit():
    # z = 2, y = 1: -log sigmoid(2) = log(1 + e^-2) = 0.126928
    assert float(binary_cross_entropy(torch.tensor([2.0]), torch.tensor([1.0]))) == pytest.approx(
        0.126928, abs=1e-5
    )


def test_class_balanced_weights_hand_worked():
    # beta = 0.5, n_neg = 2, n_pos = 1:
    # raw_neg = (1 - 0.5) / (1 - 0.5^2) = 0.5 / 0.75 = 2/3 ; raw_pos = 0.5 / 0.5 = 1
    # normalised to sum 2: sum = 5/3 -> w_neg = (2/3) * 2 / (5/3) = 0.8, w_pos = 1 * 2 / (5/3) = 1.2
    w_neg, w_pos = class_balanced_weights(2, 1, 0.5)
    assert (w_neg, w_pos) == pytest.approx((0.8, 1.2))


def test_class_balanced_beta_zero_is_equal_weights_and_rejects_an_empty_class():
    assert class_balanced_weights(1000, 3, 0.0) == pytest.approx((1.0, 1.0))
    with pytest.raises(ValueError, match="both classes"):
        class_balanced_weights(10, 0, 0.9)


def test_class_balanced_bce_weights_rows_by_class():
    # logits 0 -> each row's CE is log 2; weights 0.8 (y=0) and 1.2 (y=1); mean = (0.8 + 1.2) / 2 * log 2
    loss = class_balanced_bce(torch.zeros(2), torch.tensor([0.0, 1.0]), (0.8, 1.2))
    assert float(loss) == pytest.approx(LOG2, abs=1e-6)
    # a single positive row: 1.2 * log 2
    assert float(class_balanced_bce(torch.zeros(1), torch.ones(1), (0.8, 1.2))) == pytest.approx(
        1.2 * LOG2, abs=1e-6
    )


def test_focal_loss_hand_worked():
    # z = 0: p_t = 0.5; (1 - p_t)^2 = 0.25; CE = log 2
    # y = 1: alpha_t = 0.25 -> 0.25 * 0.25 * log 2 = 0.0433217
    # y = 0: alpha_t = 0.75 -> 0.75 * 0.25 * log 2 = 0.1299651
    assert float(focal_loss(torch.zeros(1), torch.ones(1), 2.0, 0.25)) == pytest.approx(
        0.0625 * LOG2, abs=1e-6
    )
    assert float(focal_loss(torch.zeros(1), torch.zeros(1), 2.0, 0.25)) == pytest.approx(
        0.1875 * LOG2, abs=1e-6
    )


def test_focal_loss_with_gamma_zero_and_no_alpha_is_cross_entropy():
    z = torch.tensor([-1.5, 0.3, 2.0])
    y = torch.tensor([0.0, 1.0, 1.0])
    assert float(focal_loss(z, y, 0.0, -1.0)) == pytest.approx(float(binary_cross_entropy(z, y)), abs=1e-6)


def test_focal_loss_down_weights_easy_examples():
    # z = 3, y = 1: p_t = sigmoid(3) = 0.952574; (1 - p_t)^2 = 0.0022492; CE = 0.0485873
    # gamma 2, no alpha: 0.0022492 * 0.0485873 = 1.0928e-4
    assert float(focal_loss(torch.tensor([3.0]), torch.ones(1), 2.0, -1.0)) == pytest.approx(
        1.0928e-4, rel=1e-3
    )


def test_logit_adjustment_hand_worked():
    # prior 0.2, tau 1: offset = log(0.2 / 0.8) = log(0.25) = -1.386294
    off = logit_adjustment_offset(0.2, 1.0)
    assert off == pytest.approx(math.log(0.25))
    # z = 0, y = 1: -log sigmoid(log 0.25) = log(1 + 4) = log 5
    assert float(logit_adjusted_bce(torch.zeros(1), torch.ones(1), off)) == pytest.approx(
        math.log(5.0), abs=1e-6
    )
    # tau = 0 is plain cross-entropy
    assert logit_adjustment_offset(0.2, 0.0) == 0.0
    with pytest.raises(ValueError, match="prior"):
        logit_adjustment_offset(0.0, 1.0)


def test_undersampling_recalibration_hand_worked():
    # p_s = 0.5 with negatives kept at w = 0.1: p = 0.5 / (0.5 + 0.5 / 0.1) = 0.5 / 5.5 = 1/11
    assert recalibrate_undersampled(np.array([0.5]), 0.1)[0] == pytest.approx(1 / 11)
    # w = 1 leaves probabilities alone; 0 and 1 stay fixed
    p = np.array([0.0, 0.2, 1.0])
    assert recalibrate_undersampled(p, 1.0) == pytest.approx(p)
    assert recalibrate_undersampled(p, 0.3)[[0, 2]] == pytest.approx([0.0, 1.0])
    # the logit form: logit(1/11) = log(1/10) = log(w)
    assert undersampling_logit_shift(0.1) == pytest.approx(math.log((1 / 11) / (10 / 11)))


def test_undersample_negatives_keeps_every_positive():
    rng = np.random.default_rng(0)
    y = np.array([1] * 50 + [0] * 10_000)
    idx = undersample_negatives(y, 0.1, rng)
    assert (y[idx] == 1).sum() == 50
    kept_neg = int((y[idx] == 0).sum())
    assert 850 < kept_neg < 1150  # binomial(10000, 0.1): mean 1000, sd 30
    with pytest.raises(ValueError, match="keep_rate"):
        undersample_negatives(y, 0.0, rng)
