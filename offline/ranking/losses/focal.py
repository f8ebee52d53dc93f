"""Binary focal loss (Lin et al., ICCV 2017).

With p_t = sigmoid(z) for y = 1 and 1 - sigmoid(z) for y = 0:
    FL = -alpha_t * (1 - p_t)^gamma * log(p_t),   alpha_t = alpha if y = 1 else 1 - alpha.
gamma = 0 and alpha < 0 (disabled) give plain cross-entropy. log(p_t) is computed from logits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def focal_loss(
    logits: torch.Tensor, targets: torch.Tensor, gamma: float = 2.0, alpha: float = 0.25
) -> torch.Tensor:
    y = targets.to(logits.dtype)
    ce = F.binary_cross_entropy_with_logits(logits, y, reduction="none")  # = -log(p_t)
    p = torch.sigmoid(logits)
    p_t = p * y + (1 - p) * (1 - y)
    loss = (1 - p_t).pow(gamma) * ce
    if alpha >= 0:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return loss.mean()
