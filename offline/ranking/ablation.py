"""The imbalance ablation: every method against the control (plain cross-entropy) on the same rows.

Each arm is fitted on the fit slice, calibrated and thresholded on the validation slice, and
measured on the test rows. The default method is chosen on the VALIDATION slice only: the highest
validation cancellation PR-AUC among arms whose validation purchase PR-AUC is within 2 % of the
control's; the control wins ties. The bar from the issue is judged on test: cancellation PR-AUC
>= 1.3x the control's with ECE <= 0.02 after recalibration.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from offline.ranking.config import METHODS, RankerConfig
from offline.ranking.fit import fit_head
from offline.ranking.slices import RankSlices

log = logging.getLogger(__name__)
CONTROL = "ce"
BAR_GAIN = 1.3
BAR_ECE = 0.02


@dataclass
class AblationResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    default_method: str = CONTROL
    base_config: dict[str, Any] = field(default_factory=dict)

    def row(self, method: str) -> dict[str, Any]:
        return next(r for r in self.rows if r["method"] == method)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "default_method": self.default_method,
            "base_config": self.base_config,
            "control": CONTROL,
            "bar": {"cancel_pr_auc_gain": BAR_GAIN, "ece_after_recalibration": BAR_ECE},
        }


def run_ablation(
    slices: RankSlices,
    base: RankerConfig,
    methods: Sequence[str] = METHODS,
    on_arm: Callable[[str, dict[str, Any]], None] | None = None,
) -> AblationResult:
    methods = [CONTROL] + [m for m in methods if m != CONTROL]
    result = AblationResult(base_config=base.to_dict())
    for method in methods:
        t0 = time.perf_counter()
        head = fit_head(base.replace(method=method), slices.fit, slices.val)
        if head.cancel_off:
            from offline.stage_error import StageError

            raise StageError(
                "imbalance ablation",
                f"this ablation compares methods on the cancellation head, which cannot train here: "
                f"{head.cancel_off}",
                "run it on a shop that records cancellations (CANCEL events)",
            )
        row = {
            "method": method,
            "seconds": time.perf_counter() - t0,
            "val": head.evaluate(slices.val),
            "test": head.evaluate(slices.test),
        }
        result.rows.append(row)
        log.info(
            "ablation %s: %.1f s, test cancel PR-AUC %.4f",
            method,
            row["seconds"],
            row["test"]["cancel"]["pr_auc"],
        )
        if on_arm:
            on_arm(method, row)
    ctrl = result.row(CONTROL)
    c_cancel, c_purchase = ctrl["test"]["cancel"]["pr_auc"], ctrl["test"]["purchase"]["pr_auc"]
    for row in result.rows:
        t = row["test"]
        row["cancel_gain"] = t["cancel"]["pr_auc"] / c_cancel if c_cancel > 0 else float("nan")
        row["purchase_gain"] = t["purchase"]["pr_auc"] / c_purchase if c_purchase > 0 else float("nan")
        row["meets_bar"] = bool(row["cancel_gain"] >= BAR_GAIN and t["cancel"]["ece_cal"] <= BAR_ECE)
    result.default_method = pick_default(result.rows)
    return result


def pick_default(rows: list[dict[str, Any]]) -> str:
    """Validation-only choice (see the module doc)."""
    ctrl = next(r for r in rows if r["method"] == CONTROL)
    floor = 0.98 * ctrl["val"]["purchase"]["pr_auc"]
    best, best_score = CONTROL, ctrl["val"]["cancel"]["pr_auc"]
    for r in rows:
        score = r["val"]["cancel"]["pr_auc"]
        if r["val"]["purchase"]["pr_auc"] >= floor and score > best_score:
            best, best_score = r["method"], score
    return best


def ablation_markdown(result: AblationResult) -> str:
    head = (
        "| method | fit s | cancel PR-AUC (x ctrl) | cancel ROC-AUC | purchase PR-AUC (x ctrl) "
        "| purchase ROC-AUC "
        "| macro-F1 cancel / purchase | recall cancel 0 / 1 | ECE cancel raw → cal | ECE purchase raw → cal "
        "| val cancel PR-AUC | bar |"
    )
    lines = [head, "|" + "---|" * 12]
    for r in result.rows:
        c, p = r["test"]["cancel"], r["test"]["purchase"]
        mark = " (validation pick)" if r["method"] == result.default_method else ""
        cells = [
            f"{r['method']}{mark}", f"{r['seconds']:.0f}",
            f"{c['pr_auc']:.4f} ({r['cancel_gain']:.2f}x)", f"{c['roc_auc']:.4f}",
            f"{p['pr_auc']:.4f} ({r['purchase_gain']:.2f}x)", f"{p['roc_auc']:.4f}",
            f"{c['macro_f1']:.3f} / {p['macro_f1']:.3f}", f"{c['recall_neg']:.3f} / {c['recall_pos']:.3f}",
            f"{c['ece_raw']:.4f} → {c['ece_cal']:.4f}", f"{p['ece_raw']:.4f} → {p['ece_cal']:.4f}",
            f"{r['val']['cancel']['pr_auc']:.4f}", "yes" if r["meets_bar"] else "no",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    ctrl = result.row(CONTROL)["test"]["cancel"]
    winners = [r["method"] for r in result.rows if r["meets_bar"]]
    lines += [
        "",
        f"Test rows: {ctrl['n']} purchased lines, cancellation rate {ctrl['positive_rate']:.4f}. "
        f"Bar: cancellation PR-AUC >= {BAR_GAIN}x control with ECE <= {BAR_ECE} after recalibration — "
        + (f"met by {', '.join(winners)}." if winners else "met by no method."),
        f"Validation pick: **{result.default_method}** "
        "(the shipped default is `offline.ranking.train.DEFAULT_METHOD`).",
    ]
    return "\n".join(lines) + "\n"
