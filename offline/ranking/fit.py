"""Fit the two-headed MLP on feature rows under one imbalance method, then calibrate on validation.

The purchase head learns from every row; the cancellation head from purchased lines only
(cancellation risk is P(cancel | bought)). Loss-based methods (class-balanced, focal, logit
adjustment) apply to both heads with each head's own class counts; sampling methods (undersample,
imbalanced-learn, GAN) change only the cancellation rows, the rare outcome. Each step draws one
purchase batch and a proportional cancellation batch; the loss is their sum. The epoch with the
best validation PR-AUC (purchase + cancel) is kept.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from offline.ranking.calibration import Calibrator, fit_calibrator
from offline.ranking.config import RankerConfig
from offline.ranking.metrics import best_f1_threshold, head_metrics
from offline.ranking.rows import RankRows
from offline.stage_error import StageError

log = logging.getLogger(__name__)
LossFn = Callable[..., object]


@dataclass
class FittedHead:
    net: object  # RankerNet
    config: RankerConfig
    shifts: tuple[float, float]
    calibrators: tuple[Calibrator, Calibrator]
    thresholds: tuple[float, float]
    history: list[dict] = field(default_factory=list)
    fit_seconds: float = 0.0
    #: why the cancellation head was not trained ("" = trained); its output is then a constant
    cancel_off: str = ""

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Raw (shifted, uncalibrated) and calibrated probabilities of both heads."""
        z = self.net.logits(x) + np.asarray(self.shifts)
        raw = 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))
        return {
            "purchase_raw": raw[:, 0],
            "cancel_raw": raw[:, 1],
            "purchase": self.calibrators[0].predict(z[:, 0]),
            "cancel": self.calibrators[1].predict(z[:, 1]),
        }

    def evaluate(self, rows: RankRows) -> dict[str, dict[str, float]]:
        p = self.predict(rows.x)
        m = rows.cancel_mask
        out = {"purchase": head_metrics(rows.purchase, p["purchase_raw"], p["purchase"], self.thresholds[0])}
        if not self.cancel_off:
            out["cancel"] = head_metrics(
                rows.cancel[m], p["cancel_raw"][m], p["cancel"][m], self.thresholds[1]
            )
        return out

    def export_module(self):
        """The torch module the bundle exports as ranker.onnx (calibrated probabilities)."""
        from offline.ranking.calibration_module import CalibrationModule
        from offline.ranking.model import ExportedRanker

        purchase, cancel = (CalibrationModule(c) for c in self.calibrators)
        return ExportedRanker(self.net, self.shifts, (purchase, cancel))


def loss_for(cfg: RankerConfig, y: np.ndarray) -> LossFn:
    from offline.ranking import losses

    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    if cfg.method == "class_balanced" and n_pos and n_neg:
        w = losses.class_balanced_weights(n_neg, n_pos, cfg.cb_beta)
        return lambda z, t: losses.class_balanced_bce(z, t, w)
    if cfg.method == "focal":
        return lambda z, t: losses.focal_loss(z, t, cfg.focal_gamma, cfg.focal_alpha)
    if cfg.method == "logit_adjust" and n_pos and n_neg:
        off = losses.logit_adjustment_offset(n_pos / (n_pos + n_neg), cfg.la_tau)
        return lambda z, t: losses.logit_adjusted_bce(z, t, off)
    return losses.binary_cross_entropy


def resampled_rows(cfg: RankerConfig, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if cfg.method in ("smote", "adasyn", "random_under", "random_over"):
        from offline.ranking.resample import resample

        return resample(x, y, cfg.method, cfg.resample_ratio, cfg.smote_k, cfg.seed)
    if cfg.method == "gan":
        from offline.ranking.gan_oversampler import gan_oversample

        return gan_oversample(x, y, cfg.resample_ratio, cfg.gan_epochs, cfg.gan_noise, seed=cfg.seed)
    return x, y


def fit_head(
    cfg: RankerConfig, train: RankRows, val: RankRows, progress: Callable[[int, int], None] | None = None
) -> FittedHead:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)  # a tiny MLP: extra threads only spin on a shared machine
    try:
        return _fit_head(cfg, train, val, progress)
    finally:
        torch.set_num_threads(threads)


def _fit_head(
    cfg: RankerConfig, train: RankRows, val: RankRows, progress: Callable[[int, int], None] | None
) -> FittedHead:
    import torch

    from offline.ranking.model import RankerNet
    from offline.ranking.undersample import undersample_negatives, undersampling_logit_shift

    t0 = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    m = train.cancel_mask  # the cancellation head sees every purchased line
    xc, yc = resampled_rows(cfg, train.x[m], train.cancel[m].astype(np.int64))
    if len(train) > cfg.max_train_rows:  # the purchase head: a uniform sample (keeps its prior)
        train = train.take(np.sort(rng.choice(len(train), cfg.max_train_rows, replace=False)))
    xp, yp = train.x, train.purchase.astype(np.float32)
    yc = yc.astype(np.float32)
    if len(xp) == 0 or yp.min() == yp.max():
        raise StageError(
            "ranking head",
            f"no purchase labels: {len(xp)} fit rows, none with both a purchased and an unpurchased item "
            "(the shop's train split has no PURCHASE events before its validation slice)",
            "prepare data with purchases, or switch the head off with `fulcrum train --no-ranker`",
        )
    if len(val) == 0 or val.purchase.min() == val.purchase.max():
        raise StageError(
            "ranking head",
            "the validation slice holds no purchase to calibrate the head on",
            "give the split a validation slice with purchases (a longer time split, or users with "
            "two or more baskets), or switch the head off with `fulcrum train --no-ranker`",
        )
    vm = val.cancel_mask
    cancel_off = _cancel_off_reason(yc, val.cancel[vm])
    if cancel_off:
        log.warning("ranking head: cancellation head not trained (%s); cancel_prob is 0", cancel_off)
        xc, yc = xc[:0], yc[:0]

    net = RankerNet(train.x.shape[1], cfg.hidden, cfg.layers, cfg.dropout)
    net.set_standardisation(xp)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_p, loss_c = loss_for(cfg, yp), loss_for(cfg, yc)
    xp_t, yp_t = torch.as_tensor(xp), torch.as_tensor(yp)
    xc_t, yc_t = torch.as_tensor(xc, dtype=torch.float32), torch.as_tensor(yc)
    shift_c = undersampling_logit_shift(cfg.undersample_rate) if cfg.method == "undersample" else 0.0
    shifts = (0.0, shift_c)
    n_steps = math.ceil(len(xp) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=n_steps * cfg.epochs)
    best, best_state, history = -1.0, None, []
    for epoch in range(cfg.epochs):
        net.train()
        c_idx = (
            undersample_negatives(yc, cfg.undersample_rate, rng)
            if cfg.method == "undersample"
            else np.arange(len(yc))
        )
        c_idx = torch.as_tensor(rng.permutation(c_idx))
        p_idx = torch.as_tensor(rng.permutation(len(xp)))
        cb = math.ceil(len(c_idx) / n_steps)
        n_c = max(1, len(c_idx))
        total = 0.0
        for s in range(n_steps):
            bp = p_idx[s * cfg.batch_size : (s + 1) * cfg.batch_size]
            bc = c_idx[(s * cb) % n_c : (s * cb) % n_c + cb]
            loss = loss_p(net(xp_t[bp])[:, 0], yp_t[bp])
            if len(bc):
                loss = loss + loss_c(net(xc_t[bc])[:, 1], yc_t[bc])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        z = net.logits(val.x)
        score = average_precision(val.purchase, z[:, 0]) + (
            0.0 if cancel_off else average_precision(val.cancel[vm], z[vm, 1])
        )
        history.append({"epoch": epoch + 1, "loss": total / n_steps, "val_ap_sum": score})
        log.debug("epoch %d loss %.4f val AP sum %.4f", epoch + 1, total / n_steps, score)
        if score > best:
            best, best_state = score, {k: v.clone() for k, v in net.state_dict().items()}
        if progress:
            progress(epoch + 1, cfg.epochs)
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    z = net.logits(val.x) + np.asarray(shifts)
    cal_p = fit_calibrator(cfg.calibration, z[:, 0], val.purchase)
    if cancel_off:
        cal_c = Calibrator("platt", a=0.0, b=-60.0)  # a constant 0 (sigmoid(-60)), whatever the logit
        thr_c = 1.0
    else:
        cal_c = fit_calibrator(cfg.calibration, z[vm, 1], val.cancel[vm])
        thr_c = best_f1_threshold(val.cancel[vm], cal_c.predict(z[vm, 1]))
    thr = (best_f1_threshold(val.purchase, cal_p.predict(z[:, 0])), thr_c)
    return FittedHead(net, cfg, shifts, (cal_p, cal_c), thr, history, time.perf_counter() - t0, cancel_off)


def _cancel_off_reason(fit_labels: np.ndarray, val_labels: np.ndarray) -> str:
    """Why the cancellation head cannot be trained from these labels ("" when it can).

    A shop that records no cancellations (most do not) has no cancellation label: the head's
    cancel_prob is then a constant 0 and the run says so; the purchase head is trained either way."""
    if len(fit_labels) == 0 or fit_labels.max() <= 0:
        return "no purchased line in the fit slice was cancelled (the shop records no CANCEL events for them)"
    if len(val_labels) == 0 or val_labels.min() == val_labels.max():
        return "the validation slice holds no purchased line with both cancellation outcomes to calibrate on"
    return ""


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    y = np.asarray(y).astype(int)
    return float(average_precision_score(y, score)) if y.size and y.min() != y.max() else 0.0
