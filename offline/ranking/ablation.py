"""The imbalance ablation: every method against the control (plain cross-entropy) on the same rows.

Two tasks, each with a real minority label (``offline.ranking.slices.TASKS``):

- ``cancel``: the ranking head's cancellation output on purchased lines (a shop that records
  CANCEL events, e.g. Online Retail); the purchase output is trained alongside and reported;
- ``interaction``: purchase given an interaction (``offline.ranking.interaction_rows``; a
  multi-behaviour shop, e.g. the Taobao sample), a one-output head.

Each arm is fitted on the fit slice, calibrated and thresholded on the validation slice, and
measured on the test rows. The method is chosen on the VALIDATION slice only: the highest
validation PR-AUC of the task's label (for ``cancel`` among arms whose validation purchase PR-AUC
is within 2 % of the control's); the control wins ties. The bar from the issue is judged on test:
PR-AUC >= 1.3x the control's with ECE <= 0.02 after recalibration. Every ratio to the control
carries a paired bootstrap 95 % interval over the test rows (the same resamples for every arm).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from offline.ranking.config import METHODS, RankerConfig
from offline.ranking.slices import RankSlices

log = logging.getLogger(__name__)
CONTROL = "ce"
BAR_GAIN = 1.3
BAR_ECE = 0.02
#: the label each task's table is about (key of the per-arm metrics)
TARGET = {"cancel": "cancel", "interaction": "purchase"}
TASK_TITLE = {
    "cancel": "cancellation of a purchased line",
    "interaction": "purchase given an interaction (view, click or add-to-cart)",
}


@dataclass
class AblationResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    default_method: str = CONTROL
    base_config: dict[str, Any] = field(default_factory=dict)
    task: str = "cancel"
    bootstrap: dict[str, Any] = field(default_factory=dict)

    @property
    def target(self) -> str:
        return TARGET[self.task]

    def row(self, method: str) -> dict[str, Any]:
        return next(r for r in self.rows if r["method"] == method)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "target": self.target,
            "rows": self.rows,
            "default_method": self.default_method,
            "chosen_on": "validation",
            "base_config": self.base_config,
            "control": CONTROL,
            "bar": {f"{self.target}_pr_auc_gain": BAR_GAIN, "ece_after_recalibration": BAR_ECE},
            "bootstrap": self.bootstrap,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AblationResult:
        return cls(rows=d["rows"], default_method=d["default_method"], base_config=d.get("base_config", {}),
                   task=d.get("task", "cancel"), bootstrap=d.get("bootstrap", {}))


def _fit_arm(slices: RankSlices, cfg: RankerConfig, task: str) -> tuple[dict, dict, np.ndarray, np.ndarray]:
    """(validation metrics, test metrics, test labels, test raw probabilities) of one arm."""
    if task == "interaction":
        from offline.ranking.binary_fit import fit_binary

        f, v, t = slices.fit, slices.val, slices.test
        head = fit_binary(cfg, f.x, f.purchase, v.x, v.purchase)
        return ({"purchase": head.evaluate(v.x, v.purchase)}, {"purchase": head.evaluate(t.x, t.purchase)},
                t.purchase.astype(int), head.predict(t.x)[0])
    from offline.ranking.fit import fit_head
    from offline.stage_error import StageError

    head = fit_head(cfg, slices.fit, slices.val)
    if head.cancel_off:
        raise StageError(
            "imbalance ablation",
            f"the cancellation head cannot train here: {head.cancel_off}",
            "run it on a shop that records cancellations (CANCEL events), or use "
            "`--task interaction` on a shop with views, clicks or add-to-carts",
        )
    m = slices.test.cancel_mask
    return (head.evaluate(slices.val), head.evaluate(slices.test),
            slices.test.cancel[m].astype(int), head.predict(slices.test.x)["cancel_raw"][m])


def run_ablation(
    slices: RankSlices,
    base: RankerConfig,
    methods: Sequence[str] = METHODS,
    on_arm: Callable[[str, dict[str, Any]], None] | None = None,
    task: str = "cancel",
    resamples: int = 1000,
    seed: int = 0,
) -> AblationResult:
    if task not in TARGET:
        raise ValueError(f"task {task!r}: expected one of {', '.join(TARGET)}")
    methods = [CONTROL] + [m for m in methods if m != CONTROL]
    result = AblationResult(base_config=base.to_dict(), task=task)
    target = result.target
    scores: dict[str, np.ndarray] = {}
    y_test = np.zeros(0, dtype=int)
    for method in methods:
        t0 = time.perf_counter()
        val, test, y_test, p_test = _fit_arm(slices, base.replace(method=method), task)
        scores[method] = p_test
        row = {"method": method, "seconds": time.perf_counter() - t0, "val": val, "test": test}
        result.rows.append(row)
        log.info("ablation %s: %.1f s, test %s PR-AUC %.4f", method, row["seconds"], target,
                 test[target]["pr_auc"])
        if on_arm:
            on_arm(method, row)
    idx = np.random.default_rng(seed).integers(0, len(y_test), size=(resamples, len(y_test)))
    result.bootstrap = {"resamples": resamples, "level": 0.95, "unit": "test rows, paired across arms",
                        "seed": seed}
    add_comparisons(result, y_test, scores, idx)
    result.default_method = pick_default(result.rows, target)
    return result


def resampled_pr_auc(y: np.ndarray, score: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """PR-AUC of ``score`` on every resample (row of ``idx``); NaN where no positive was drawn."""
    from offline.ranking.metrics import average_precision

    return np.array([average_precision(y[i], score[i]) for i in idx])


def ratio_interval(point_a: float, point_b: float, ra: np.ndarray, rb: np.ndarray,
                   level: float = 0.95) -> dict[str, Any]:
    """The point ratio a / b and the percentile interval of the per-resample ratios ra / rb
    (no interpolation; resamples where the ratio is undefined are left out and counted). Pure."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(rb > 0, ra / np.where(rb > 0, rb, 1.0), np.nan)
    defined = r[np.isfinite(r)]
    tail = (1.0 - level) / 2.0
    low = high = None
    if defined.size:
        low, high = (float(v) for v in np.quantile(defined, [tail, 1.0 - tail], method="inverted_cdf"))
    return {"ratio": point_a / point_b if point_b > 0 else None, "low": low, "high": high, "level": level,
            "resamples": int(r.size), "undefined_resamples": int(r.size - defined.size)}


def add_comparisons(result: AblationResult, y: np.ndarray, scores: dict[str, np.ndarray], idx: np.ndarray
                    ) -> None:
    """Per arm: test PR-AUC ratio to the control with its paired interval (every arm is scored on
    the same resamples of the test rows), the gains and the bar."""
    target = result.target
    ctrl = result.row(CONTROL)["test"]
    resampled = {m: resampled_pr_auc(y, s, idx) for m, s in scores.items()}
    for row in result.rows:
        t = row["test"]
        row["pr_auc_ratio"] = ratio_interval(t[target]["pr_auc"], ctrl[target]["pr_auc"],
                                             resampled[row["method"]], resampled[CONTROL])
        for head, metrics in t.items():
            c = ctrl[head]["pr_auc"]
            row[f"{head}_gain"] = metrics["pr_auc"] / c if c > 0 else float("nan")
        gain, ece = row[f"{target}_gain"], t[target]["ece_cal"]
        row["meets_bar"] = bool(gain >= BAR_GAIN and ece <= BAR_ECE)
        low = row["pr_auc_ratio"]["low"]
        row["meets_bar_at_lower_bound"] = bool(low is not None and low >= BAR_GAIN and ece <= BAR_ECE)


def pick_default(rows: list[dict[str, Any]], target: str = "cancel") -> str:
    """Validation-only choice (see the module doc)."""
    ctrl = next(r for r in rows if r["method"] == CONTROL)
    floor = 0.98 * ctrl["val"]["purchase"]["pr_auc"] if target != "purchase" else -np.inf
    best, best_score = CONTROL, ctrl["val"][target]["pr_auc"]
    for r in rows:
        score = r["val"][target]["pr_auc"]
        if r["val"]["purchase"]["pr_auc"] >= floor and score > best_score:
            best, best_score = r["method"], score
    return best


def _interval(r: dict[str, Any]) -> str:
    i = r.get("pr_auc_ratio") or {}
    if i.get("low") is None:
        return "-"
    return f"{i['ratio']:.2f}x [{i['low']:.2f}, {i['high']:.2f}]"


def ablation_markdown(result: AblationResult) -> str:
    target = result.target
    other = "purchase" if target == "cancel" else None
    head = (f"| method | fit s | test {target} PR-AUC | x control [95 % CI] | {target} ROC-AUC "
            f"| macro-F1 | recall 0 / 1 | ECE raw → recalibrated | val {target} PR-AUC "
            + (f"| {other} PR-AUC (x ctrl) " if other else "") + "| bar |")
    n_cols = 10 + (1 if other else 0)
    lines = [head, "|" + "---|" * n_cols]
    for r in result.rows:
        t = r["test"][target]
        mark = " (validation pick)" if r["method"] == result.default_method else ""
        cells = [
            f"{r['method']}{mark}", f"{r['seconds']:.0f}", f"{t['pr_auc']:.4f}", _interval(r),
            f"{t['roc_auc']:.4f}", f"{t['macro_f1']:.3f}", f"{t['recall_neg']:.3f} / {t['recall_pos']:.3f}",
            f"{t['ece_raw']:.4f} → {t['ece_cal']:.4f}", f"{r['val'][target]['pr_auc']:.4f}",
        ]
        if other:
            cells.append(f"{r['test'][other]['pr_auc']:.4f} ({r[f'{other}_gain']:.2f}x)")
        cells.append("yes" if r["meets_bar"] else "no")
        lines.append("| " + " | ".join(cells) + " |")
    ctrl = result.row(CONTROL)["test"][target]
    pick = result.row(result.default_method)
    winners = [r["method"] for r in result.rows if r["meets_bar"]]
    sure = [r["method"] for r in result.rows if r.get("meets_bar_at_lower_bound")]
    b = result.bootstrap
    lines += [
        "",
        f"Task: {TASK_TITLE[result.task]}. Test rows: {ctrl['n']:,}, positive rate "
        f"{ctrl['positive_rate']:.4f}. Recalibration (isotonic unless configured) is fitted on "
        "validation and measured on test. "
        + (f"Intervals: paired bootstrap over the {b.get('resamples')} resamples of the test rows, "
           "the same for every arm. " if b else "")
        + f"Bar: {target} PR-AUC >= {BAR_GAIN}x control with ECE <= {BAR_ECE} after recalibration — "
        + (f"met on the point estimate by {', '.join(winners)}" if winners else "met by no method")
        + (f"; with the interval's lower bound by {', '.join(sure)}." if sure else
           "; no interval's lower bound reaches it."),
        f"Validation pick: **{result.default_method}** (test {pick['test'][target]['pr_auc']:.4f}, "
        f"{_interval(pick)} control; the shipped head's method is "
        "`offline.ranking.train.DEFAULT_METHOD`).",
    ]
    return "\n".join(lines) + "\n"
