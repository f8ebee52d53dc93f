"""The ranking head: a small MLP over the ``rank_features`` vector with two sigmoid outputs.

``RankerNet`` standardises its raw input with buffers fitted on the training rows (so ONNX takes
the raw feature vector), runs a shared trunk and returns two logits: [:, 0] purchase, [:, 1]
cancellation (``outputs=1``: one logit, for the ablation's single-label tasks).
``ExportedRanker`` wraps a trained net with each head's logit shift (undersampling correction)
and calibration map, and returns the two calibrated probabilities the bundle promises
(``ranker.onnx``: features [B, F] -> purchase_prob [B], cancel_prob [B]).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

PURCHASE, CANCEL = 0, 1


class RankerNet(nn.Module):
    def __init__(
        self, n_features: int, hidden: int = 64, layers: int = 2, dropout: float = 0.1, outputs: int = 2
    ) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        blocks: list[nn.Module] = []
        width = n_features
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        self.trunk = nn.Sequential(*blocks)
        self.heads = nn.Linear(width, outputs)

    def set_standardisation(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64)
        std = x.std(axis=0)
        self.mean.copy_(torch.as_tensor(x.mean(axis=0), dtype=torch.float32))
        self.std.copy_(torch.as_tensor(np.where(std > 1e-8, std, 1.0), dtype=torch.float32))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.heads(self.trunk((features - self.mean) / self.std))

    @torch.no_grad()
    def logits(self, x: np.ndarray, batch: int = 65_536) -> np.ndarray:
        """[N, outputs] float64 logits in eval mode."""
        was_training = self.training
        self.eval()
        out = [
            self(torch.as_tensor(x[i : i + batch], dtype=torch.float32)).double().numpy()
            for i in range(0, len(x), batch)
        ]
        self.train(was_training)
        return np.concatenate(out) if out else np.zeros((0, self.heads.out_features))


class ExportedRanker(nn.Module):
    """features [B, F] -> (purchase_prob [B], cancel_prob [B]), calibrated."""

    def __init__(
        self, net: RankerNet, shifts: tuple[float, float], calibrators: tuple[nn.Module, nn.Module]
    ) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("shift", torch.tensor(shifts, dtype=torch.float32))
        self.purchase_cal, self.cancel_cal = calibrators

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.net(features) + self.shift
        return self.purchase_cal(z[:, 0]), self.cancel_cal(z[:, 1])
