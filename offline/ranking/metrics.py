"""Classification metrics of one head (sklearn), for the ablation table.

PR-AUC is average precision; macro-F1 and per-class recall use a decision threshold chosen on the
validation slice (the one maximising the positive class's F1), never on the test rows.
"""

from __future__ import annotations

import numpy as np

from offline.ranking.ece import expected_calibration_error


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """Average precision (PR-AUC as sklearn's ``average_precision_score``), pure numpy.

    AP = sum over distinct score thresholds, high to low, of (R_n - R_{n-1}) * P_n, where P_n and
    R_n are the precision and recall of predicting positive every row scored >= the n-th
    threshold (tied scores enter together). NaN without a positive row. Fast enough for the
    thousands of bootstrap resamples of the ablation.
    """
    y = np.asarray(y, dtype=np.float64).ravel()
    s = np.asarray(score, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"y has {y.size} values but score has {s.size}")
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    last = np.r_[np.flatnonzero(np.diff(s)), y.size - 1] if y.size else np.zeros(0, np.int64)
    tp = np.cumsum(y)[last]
    if not tp.size or tp[-1] <= 0:
        return float("nan")
    precision = tp / (last + 1.0)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def best_f1_threshold(y: np.ndarray, prob: np.ndarray) -> float:
    """The probability threshold that maximises the positive-class F1 on (y, prob)."""
    from sklearn.metrics import precision_recall_curve

    y = np.asarray(y).astype(int)
    if y.min() == y.max():
        return 0.5
    precision, recall, thresholds = precision_recall_curve(y, prob)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    return float(thresholds[int(np.argmax(f1))])


def head_metrics(
    y: np.ndarray, prob_raw: np.ndarray, prob_cal: np.ndarray, threshold: float
) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, f1_score, recall_score, roc_auc_score

    y = np.asarray(y).astype(int)
    both = y.min() != y.max()
    pred = (np.asarray(prob_cal) >= threshold).astype(int)
    recalls = recall_score(y, pred, average=None, labels=[0, 1], zero_division=0)
    return {
        "n": int(y.size),
        "positive_rate": float(y.mean()) if y.size else 0.0,
        # ranking quality of the head's own scores (a monotone calibration can only add ties)
        "pr_auc": float(average_precision_score(y, prob_raw)) if both else float("nan"),
        "roc_auc": float(roc_auc_score(y, prob_raw)) if both else float("nan"),
        "pr_auc_cal": float(average_precision_score(y, prob_cal)) if both else float("nan"),
        "macro_f1": float(f1_score(y, pred, average="macro", labels=[0, 1], zero_division=0)),
        "recall_neg": float(recalls[0]),
        "recall_pos": float(recalls[1]),
        "threshold": float(threshold),
        "ece_raw": expected_calibration_error(y, np.clip(prob_raw, 0, 1)),
        "ece_cal": expected_calibration_error(y, np.clip(prob_cal, 0, 1)),
    }
