"""Binary losses of the ranking head, one per file. Each takes logits and 0/1 targets (torch
tensors of the same shape) and returns the mean loss; none has hidden state."""

from offline.ranking.losses.class_balanced import class_balanced_bce, class_balanced_weights
from offline.ranking.losses.cross_entropy import binary_cross_entropy
from offline.ranking.losses.focal import focal_loss
from offline.ranking.losses.logit_adjustment import logit_adjusted_bce, logit_adjustment_offset

__all__ = [
    "binary_cross_entropy",
    "class_balanced_bce",
    "class_balanced_weights",
    "focal_loss",
    "logit_adjusted_bce",
    "logit_adjustment_offset",
]
