"""`fulcrum tune`: a TPE search on the validation slice that writes a loadable best config."""

import pytest
import yaml
from typer.testing import CliRunner

from fulcrum.cli import app
from fulcrum.core import schema as S
from offline.ranking.config import RankerConfig
from offline.ranking.slices import build_slices
from offline.tune.objective import validation_score
from offline.tune.search import run_search
from tests.ranking_synthetic import synthetic_prepared

TINY = RankerConfig(hidden=32, epochs=3, lr=0.01, batch_size=128, gan_epochs=5, smote_k=3)


def test_validation_score_adds_the_two_pr_aucs():
    # 0.25 + 0.5 * 0.6 = 0.55
    m = {"cancel": {"pr_auc": 0.25}, "purchase": {"pr_auc": 0.6}}
    assert validation_score(m, purchase_weight=0.5) == pytest.approx(0.55)


def test_search_starts_from_the_base_and_never_returns_worse():
    s = build_slices(synthetic_prepared(), TINY)
    res = run_search(s.fit, s.val, TINY, n_trials=3, timeout=120, methods=("ce", "focal", "undersample"))
    assert res.n_trials == 3 and len(res.trials) == 3
    first = res.trials[0]  # the enqueued base configuration
    assert (first["method"], first["lr"], first["hidden"]) == ("ce", TINY.lr, TINY.hidden)
    assert res.best_value == pytest.approx(max(t["value"] for t in res.trials))
    assert res.best_value >= res.trials[0]["value"]
    assert isinstance(res.best_config, RankerConfig) and res.best_config.epochs == 3


def _write(prepared, folder):
    folder.mkdir()
    prepared.events.to_parquet(folder / S.EVENTS_FILE)
    prepared.items.to_parquet(folder / S.ITEMS_FILE)
    prepared.split.write(folder / S.SPLIT_FILE)


def test_tune_command_writes_best_yaml(tmp_path):
    data = tmp_path / "data"
    _write(synthetic_prepared(), data)
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({"ranker": {"hidden": 16, "batch_size": 128, "lr": 0.01}}))
    out = tmp_path / "best.yaml"
    r = CliRunner().invoke(
        app,
        [
            "tune",
            "--data",
            str(data),
            "--trials",
            "2",
            "--timeout",
            "120",
            "--out",
            str(out),
            "--config",
            str(base),
            "--epochs",
            "2",
            "--method",
            "focal",
            "--no-progress",
        ],
    )
    assert r.exit_code == 0, r.output
    doc = yaml.safe_load(out.read_text())
    cfg = RankerConfig.from_dict(doc["ranker"])
    assert cfg.method == "focal" and cfg.epochs == 2 and cfg.hidden in (32, 64, 128, 16)
    assert doc["tuning"]["trials"] == 2 and doc["tuning"]["best_value"] > 0
    assert (tmp_path / "cache" / "ranking").is_dir()  # rows cached beside the data, not inside it


def test_tune_command_errors_are_clear(tmp_path):
    runner = CliRunner()
    r = runner.invoke(
        app, ["tune", "--data", str(tmp_path / "nope"), "--trials", "1", "--out", str(tmp_path / "b.yaml")]
    )
    assert r.exit_code == 2 and "events.parquet" in r.output
    r = runner.invoke(app, ["tune", "--trials", "0"])
    assert r.exit_code == 2 and "--trials" in r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("ranker: {hiden: 3}\n")
    r = runner.invoke(app, ["tune", "--config", str(bad), "--out", str(tmp_path / "b.yaml")])
    assert r.exit_code == 2 and "hiden" in r.output
