"""Plain binary cross-entropy on logits: the control arm of the ablation.

loss = mean( -[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))] ), computed stably from z.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def binary_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype))
