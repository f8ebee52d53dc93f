"""How a trial is scored: fit the head on the fit slice, measure on the validation slice.

score = validation PR-AUC of the cancellation head + ``purchase_weight`` x validation PR-AUC of
the purchase head. Both are ranking metrics of the head's own scores (calibration does not move
them), so the same validation rows may also fit the calibration without inflating the score.
"""

from __future__ import annotations

from typing import Any

from offline.ranking.config import RankerConfig
from offline.ranking.fit import fit_head
from offline.ranking.rows import RankRows


def validation_score(metrics: dict[str, dict[str, float]], purchase_weight: float = 1.0) -> float:
    return float(metrics["cancel"]["pr_auc"] + purchase_weight * metrics["purchase"]["pr_auc"])


def score_config(
    base: RankerConfig, overrides: dict[str, Any], fit: RankRows, val: RankRows, purchase_weight: float = 1.0
) -> tuple[float, dict[str, dict[str, float]]]:
    cfg = RankerConfig.from_dict({**base.to_dict(), **overrides})
    head = fit_head(cfg, fit, val)
    metrics = head.evaluate(val)
    return validation_score(metrics, purchase_weight), metrics
