"""Logit-adjusted cross-entropy (Menon et al., ICLR 2021), binary form.

For two classes with priors (1 - pi, pi) and a sigmoid head z, the softmax logits are (0, z); the
adjusted logits (tau log(1 - pi), z + tau log pi) give the sigmoid of z + tau * log(pi / (1 - pi)).
Training minimises cross-entropy on that shifted logit; prediction uses z unshifted, which moves the
decision boundary toward the rare class (balanced error) — so probabilities need recalibration.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def logit_adjustment_offset(prior: float, tau: float) -> float:
    """tau * log(prior / (1 - prior)); prior is the positive-class rate in the training rows."""
    if not 0 < prior < 1:
        raise ValueError(f"prior must be in (0, 1), got {prior}")
    return tau * math.log(prior / (1.0 - prior))


def logit_adjusted_bce(logits: torch.Tensor, targets: torch.Tensor, offset: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits + offset, targets.to(logits.dtype))
