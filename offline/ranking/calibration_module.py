"""The torch form of a fitted ``Calibrator``: logits [B] -> probabilities [B], ONNX-exportable.

The isotonic map is np.interp written with min/max only:
    f(z) = y_0 + sum_i s_i * (min(max(z, x_i), x_{i+1}) - x_i),   s_i = (y_{i+1} - y_i) / (x_{i+1} - x_i)
which equals y_0 below x_0 and y_last above x_last, like np.interp.
"""

from __future__ import annotations

import torch
from torch import nn

from offline.ranking.calibration import Calibrator


class CalibrationModule(nn.Module):
    def __init__(self, cal: Calibrator) -> None:
        super().__init__()
        self.isotonic = cal.kind == "isotonic"
        self.register_buffer("a", torch.tensor(float(cal.a)))
        self.register_buffer("b", torch.tensor(float(cal.b)))
        if self.isotonic:
            x = torch.tensor(cal.knots_x, dtype=torch.float64)
            y = torch.tensor(cal.knots_y, dtype=torch.float64)
            if x.numel() == 1:  # a constant map
                x = torch.cat([x, x + 1.0])
                y = torch.cat([y, y])
            slope = (y[1:] - y[:-1]) / (x[1:] - x[:-1])
            self.register_buffer("lo", x[:-1].float())
            self.register_buffer("hi", x[1:].float())
            self.register_buffer("slope", slope.float())
            self.register_buffer("y0", y[:1].float())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if not self.isotonic:
            return torch.sigmoid(self.a * z + self.b)
        zz = z.unsqueeze(-1)
        seg = torch.minimum(torch.maximum(zz, self.lo), self.hi) - self.lo
        return (self.y0 + (seg * self.slope).sum(-1)).clamp(0.0, 1.0)
