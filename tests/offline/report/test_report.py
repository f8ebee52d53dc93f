"""The bundle report: re-rank rules (hand-worked) and `fulcrum evaluate --bundle` end to end."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from fulcrum.core.rerank.tail_boost import tail_boosted
from offline.report.tradeoff import best_within_loss


def test_tail_boost_hand_worked():
    # relevance 0, 5, 10 -> min-max 0, 0.5, 1; the first item is tail: 0 + 0.6 = 0.6
    out = tail_boosted(np.array([0.0, 5.0, 10.0]), np.array([True, False, False]), 0.6)
    assert out == pytest.approx([0.6, 0.5, 1.0])
    # boost 0 keeps the (normalised) order; constant relevance normalises to 1
    assert tail_boosted(np.array([3.0, 3.0]), np.array([True, False]), 0.0) == pytest.approx([1.0, 1.0])
    with pytest.raises(ValueError, match="boost"):
        tail_boosted(np.zeros(2), np.zeros(2, bool), -0.1)


def test_best_within_loss_hand_worked():
    pts = [
        {"boost": 0.0, "mmr_weight": 0.0, "ndcg@10": 0.100, "tail_share@10": 0.10},  # base: floor 0.095
        {"boost": 0.2, "mmr_weight": 0.0, "ndcg@10": 0.096, "tail_share@10": 0.30},  # allowed
        {"boost": 0.5, "mmr_weight": 0.0, "ndcg@10": 0.090, "tail_share@10": 0.50},  # loses 10 %: out
        {"boost": 0.1, "mmr_weight": 0.2, "ndcg@10": 0.099, "tail_share@10": 0.25},  # allowed, less tail
    ]
    res = best_within_loss(pts, max_loss=0.05)
    assert res["ndcg_floor"] == pytest.approx(0.095)
    assert (res["best"]["boost"], res["best"]["mmr_weight"]) == (0.2, 0.0)
    assert res["base"]["tail_share@10"] == 0.10


def test_evaluate_bundle_writes_report_metrics_and_plots(tiny_bundle, tmp_path):
    from fulcrum.cli import app

    data = tiny_bundle.parent.parent / "data"
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)  # the fixture is shared: never write into it
    r = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--bundle",
            str(bundle),
            "--data",
            str(data),
            "-b",
            "popularity",
            "--ablation",
            str(tmp_path / "missing.json"),
        ],
    )
    assert r.exit_code == 0, r.output
    out = bundle / "report"
    for name in (
        "report.md",
        "metrics.json",
        "pr_curves.png",
        "calibration.png",
        "popularity_vs_exposure.png",
        "tail_tradeoff.png",
    ):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    m = json.loads((out / "metrics.json").read_text())
    # the tiny bundle has a hybrid retrieval score, so the towers-only ablation row is there too
    assert set(m["recommenders"]) == {
        "model",
        "model (retrieval only)",
        "model (two towers only, no hybrid)",
        "popularity",
    }
    assert m["recommenders"]["model (retrieval only)"]["settings"]["hybrid"] is True
    assert m["recommenders"]["model (two towers only, no hybrid)"]["settings"]["hybrid"] is False
    assert m["recommenders"]["model (two towers only, no hybrid)"]["settings"]["serving_default"] is False
    warm = m["recommenders"]["model"]["metrics"]["warm"]
    from offline.data.dataset import load_prepared

    prepared = load_prepared(data)
    train, test = prepared.train_purchases(), prepared.test_purchases()
    train_users = set(train["user_id"].astype(str))
    # each metric within its own range: shares and rates in [0, 1]; cosine distance in [0, 2];
    # novelty is -log2(share of train users), at most log2(number of train users)
    bounds = {
        "ndcg@10": 1.0,
        "recall@20": 1.0,
        "coverage@10": 1.0,
        "tail_share@10": 1.0,
        "intra_list_diversity@10": 2.0,
        "novelty@10": np.log2(len(train_users)),
    }
    for key, upper in bounds.items():
        assert 0.0 <= warm[key] <= upper + 1e-9, (key, warm[key])
    assert warm["ndcg@10"] > 0.0  # the tiny model on its own data finds at least one target
    # cold users: bought in the test period, never in train (counted here from the data itself)
    cold = set(test["user_id"].astype(str)) - train_users
    assert m["recommenders"]["model"]["metrics"]["cold"]["users"] == len(cold)
    best, base = m["tradeoff"]["best"], m["tradeoff"]["base"]
    assert best["ndcg@10"] >= 0.95 * base["ndcg@10"] - 1e-12
    assert best["tail_share@10"] >= base["tail_share@10"]
    report = (out / "report.md").read_text()
    assert "Model vs baselines" in report and "trade-off" in report and "No ablation results" in report


def test_evaluate_bundle_rejects_a_folder_without_manifest(tmp_path):
    from fulcrum.cli import app

    r = CliRunner().invoke(app, ["evaluate", "--bundle", str(tmp_path)])
    assert r.exit_code == 2 and "manifest.json" in r.output
