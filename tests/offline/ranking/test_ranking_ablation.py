"""`fulcrum ablate` on both tasks' shapes: purchase given an interaction (a multi-behaviour shop),
the task chosen automatically, the bootstrap ratios to the control, the validation-only pick."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from offline.data.prepare import write_prepared
from offline.ranking.ablation import CONTROL, pick_default
from tests.multibehaviour_synthetic import multibehaviour_prepared


def _row(method: str, val_target: float, val_purchase: float = 0.5) -> dict:
    return {"method": method, "val": {"purchase": {"pr_auc": val_purchase}, "cancel": {"pr_auc": val_target}}}


def test_pick_default_uses_validation_only():
    # cancel task: the best validation cancellation PR-AUC among arms whose validation purchase
    # PR-AUC is >= 0.98 x the control's (0.49): "b" (0.30) is dropped for its purchase PR-AUC 0.40
    rows = [_row(CONTROL, 0.10), _row("a", 0.20), _row("b", 0.30, val_purchase=0.40)]
    assert pick_default(rows, "cancel") == "a"
    # a tie with the control keeps the control
    assert pick_default([_row(CONTROL, 0.2), _row("a", 0.2)], "cancel") == CONTROL
    # interaction task: the label is the purchase itself, no floor
    rows = [_row(CONTROL, 0, 0.10), _row("a", 0, 0.12), _row("b", 0, 0.11)]
    assert pick_default(rows, "purchase") == "a"


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    return write_prepared(multibehaviour_prepared(), tmp_path_factory.mktemp("mb") / "data")


def test_ablate_interaction_task_writes_table_with_intervals(shop: Path, tmp_path: Path):
    from fulcrum.cli import app

    out = tmp_path / "ab"
    r = CliRunner().invoke(app, ["ablate", "--data", str(shop), "--out", str(out), "-m", "focal",
                                 "-m", "random_over", "--epochs", "2", "--resamples", "100"])
    assert r.exit_code == 0, r.output
    assert "task: interaction" in r.output  # chosen automatically: views and carts, no cancels
    payload = json.loads((out / "ablation.json").read_text())
    assert payload["task"] == "interaction" and payload["chosen_on"] == "validation"
    assert [row["method"] for row in payload["rows"]] == [CONTROL, "focal", "random_over"]
    ctrl = payload["rows"][0]
    # the control over itself: ratio 1 in every resample
    assert ctrl["pr_auc_ratio"]["ratio"] == pytest.approx(1.0)
    assert ctrl["pr_auc_ratio"]["low"] == pytest.approx(1.0) == ctrl["pr_auc_ratio"]["high"]
    for row in payload["rows"]:
        t = row["test"]["purchase"]
        assert 0 < t["positive_rate"] < 0.2 and 0 <= t["pr_auc"] <= 1
        i = row["pr_auc_ratio"]
        assert i["low"] <= i["ratio"] <= i["high"] and i["resamples"] == 100
        assert row["meets_bar"] == (row["purchase_gain"] >= 1.3 and t["ece_cal"] <= 0.02)
    assert payload["default_method"] in {CONTROL, "focal", "random_over"}
    md = (out / "ablation.md").read_text()
    assert "x control [95 % CI]" in md and "purchase given an interaction" in md


def test_ablate_cancel_task_refused_on_a_shop_without_cancellations(shop: Path, tmp_path: Path):
    from fulcrum.cli import app

    r = CliRunner().invoke(app, ["ablate", "--data", str(shop), "--out", str(tmp_path / "ab"),
                                 "--task", "cancel", "-m", "focal", "--epochs", "1"])
    assert r.exit_code == 1
    assert "cancellation head cannot train here" in r.output and "--task interaction" in r.output


def test_auto_task_names_both_labels_when_a_shop_has_neither(tmp_path: Path):
    from fulcrum.cli import app
    from tests.fixtures.purchases import prepared_from

    data = write_prepared(prepared_from([("u1", "a"), ("u2", "b")], [("u1", "b")]), tmp_path / "d")
    r = CliRunner().invoke(app, ["ablate", "--data", str(data), "--out", str(tmp_path / "ab")])
    assert r.exit_code == 2
    assert "neither CANCEL events" in r.output


def test_average_precision_matches_the_definition():
    import numpy as np

    from offline.ranking.metrics import average_precision

    # scores 0.9 (pos), 0.8 (neg), 0.8 (pos), 0.1 (neg): thresholds 0.9 -> P 1, R 1/2;
    # 0.8 (the tie enters together) -> P 2/3, R 1; AP = 1/2 * 1 + 1/2 * 2/3 = 5/6
    assert average_precision(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.8, 0.1])) == pytest.approx(5 / 6)
    assert np.isnan(average_precision(np.array([0, 0]), np.array([0.1, 0.2])))


def test_ratio_interval_is_the_percentile_range_of_defined_ratios():
    import numpy as np

    from offline.ranking.ablation import ratio_interval

    # per-resample ratios 1, 2, 3, undefined (denominator 0): the 2.5 % / 97.5 % inverted-CDF
    # quantiles of (1, 2, 3) are 1 and 3
    r = ratio_interval(0.4, 0.2, np.array([0.1, 0.4, 0.3, 0.2]), np.array([0.1, 0.2, 0.1, 0.0]))
    assert r["ratio"] == pytest.approx(2.0)
    assert (r["low"], r["high"]) == (pytest.approx(1.0), pytest.approx(3.0))
    assert r["undefined_resamples"] == 1 and r["resamples"] == 4
