"""Fit a one-output head on one binary label under one imbalance method, calibrated on validation.

The single-label twin of ``offline.ranking.fit`` for the ablation's purchase-given-interaction
task: the same MLP (``RankerNet(outputs=1)``), optimiser, one-cycle schedule and methods --
loss-based (class-balanced, focal, logit adjustment), negative undersampling with its exact logit
correction, and resampling of the fit rows (imbalanced-learn, the GAN oversampler). The epoch
with the best validation PR-AUC is kept; the calibration map (``config.calibration``) and the
decision threshold are fitted on the validation rows; nothing looks at test rows.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from offline.ranking.calibration import Calibrator, fit_calibrator
from offline.ranking.config import RankerConfig
from offline.ranking.fit import average_precision, loss_for, resampled_rows
from offline.ranking.metrics import best_f1_threshold, head_metrics
from offline.stage_error import StageError


@dataclass
class FittedBinary:
    net: object  # RankerNet with one output
    config: RankerConfig
    shift: float
    calibrator: Calibrator
    threshold: float
    history: list[dict] = field(default_factory=list)
    fit_seconds: float = 0.0

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(raw probability after the logit shift, calibrated probability)."""
        z = self.net.logits(x)[:, 0] + self.shift
        return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60))), self.calibrator.predict(z)

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        raw, cal = self.predict(x)
        return head_metrics(y, raw, cal, self.threshold)


def fit_binary(cfg: RankerConfig, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray
               ) -> FittedBinary:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _fit(cfg, x, np.asarray(y).astype(np.int64), x_val, np.asarray(y_val).astype(np.int64))
    finally:
        torch.set_num_threads(threads)


def _fit(cfg: RankerConfig, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray
         ) -> FittedBinary:
    import torch

    from offline.ranking.model import RankerNet
    from offline.ranking.undersample import undersample_negatives, undersampling_logit_shift

    for name, labels in (("fit", y), ("validation", y_val)):
        if len(labels) == 0 or labels.min() == labels.max():
            raise StageError(
                "imbalance ablation",
                f"the {name} slice has {len(labels)} rows and not both outcomes of the label",
                "use a split whose fit and validation periods both hold positive and negative rows "
                "(a longer time split, or --val-days)",
            )
    t0 = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    net = RankerNet(x.shape[1], cfg.hidden, cfg.layers, cfg.dropout, outputs=1)
    net.set_standardisation(x)  # on the real rows, before any synthetic ones are added
    xr, yr = resampled_rows(cfg, x, y)
    loss = loss_for(cfg, yr)
    xt, yt = torch.as_tensor(xr, dtype=torch.float32), torch.as_tensor(yr.astype(np.float32))
    shift = undersampling_logit_shift(cfg.undersample_rate) if cfg.method == "undersample" else 0.0
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    under = cfg.method == "undersample"
    n_rows = len(undersample_negatives(yr, cfg.undersample_rate, rng)) if under else len(yr)
    n_steps = max(1, math.ceil(n_rows / cfg.batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=n_steps * cfg.epochs + 1)
    best, best_state, history = -1.0, None, []
    for epoch in range(cfg.epochs):
        net.train()
        idx = undersample_negatives(yr, cfg.undersample_rate, rng) if under else None
        order = torch.as_tensor(rng.permutation(idx if idx is not None else len(yr)))
        total = 0.0
        for s in range(n_steps):
            b = order[s * cfg.batch_size : (s + 1) * cfg.batch_size]
            if len(b) == 0:
                break
            step_loss = loss(net(xt[b])[:, 0], yt[b])
            opt.zero_grad()
            step_loss.backward()
            opt.step()
            sched.step()
            total += float(step_loss.detach())
        score = average_precision(y_val, net.logits(x_val)[:, 0])
        history.append({"epoch": epoch + 1, "loss": total / n_steps, "val_pr_auc": score})
        if score > best:
            best, best_state = score, {k: v.clone() for k, v in net.state_dict().items()}
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    z = net.logits(x_val)[:, 0] + shift
    cal = fit_calibrator(cfg.calibration, z, y_val)
    threshold = best_f1_threshold(y_val, cal.predict(z))
    return FittedBinary(net, cfg, shift, cal, threshold, history, time.perf_counter() - t0)
