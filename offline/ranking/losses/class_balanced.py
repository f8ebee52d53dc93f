"""Class-balanced weights from the effective number of samples (Cui et al., CVPR 2019).

A class with n samples has effective number E_n = (1 - beta^n) / (1 - beta); its weight is
1 / E_n = (1 - beta) / (1 - beta^n). Weights are normalised to sum to the number of classes (2),
so beta -> 0 gives equal weights (plain cross-entropy) and beta -> 1 gives inverse frequency.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def class_balanced_weights(n_negative: int, n_positive: int, beta: float) -> tuple[float, float]:
    """(weight of class 0, weight of class 1), summing to 2."""
    if n_negative < 1 or n_positive < 1:
        raise ValueError(f"both classes need samples, got n_negative={n_negative}, n_positive={n_positive}")
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    counts = np.array([n_negative, n_positive], dtype=np.float64)
    raw = (1.0 - beta) / (1.0 - np.power(beta, counts))
    w = raw / raw.sum() * 2.0
    return float(w[0]), float(w[1])


def class_balanced_bce(
    logits: torch.Tensor, targets: torch.Tensor, weights: tuple[float, float]
) -> torch.Tensor:
    """Cross-entropy where each row is weighted by its class weight; mean over rows."""
    y = targets.to(logits.dtype)
    w = torch.where(
        y > 0.5,
        torch.as_tensor(weights[1], dtype=logits.dtype),
        torch.as_tensor(weights[0], dtype=logits.dtype),
    )
    return (F.binary_cross_entropy_with_logits(logits, y, reduction="none") * w).mean()
