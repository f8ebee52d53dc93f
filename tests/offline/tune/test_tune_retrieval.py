"""`fulcrum tune --target retrieval`: real validation-only training runs on a synthetic shop with
the tiny BERT; the written file is a valid `fulcrum train --config`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from offline.export.synthetic_data import write_synthetic_prepared
from offline.export.tiny import TINY_CONFIG
from offline.train_config import config_from_dict, load_config
from offline.tune.retrieval_search import base_point, run_retrieval_search, trial_score, with_retrieval


def _base(tiny_bert_dir: Path):
    cfg = {**TINY_CONFIG, "ranker": "off"}
    cfg["text"] = {**TINY_CONFIG["text"], "model_path": str(tiny_bert_dir)}
    return config_from_dict(cfg)


def test_trial_score_prefers_the_hybrid_validation_score() -> None:
    info = {"hybrid": {"neighbour_weight": 0.1}, "metrics": {"validation": {"ndcg@10": 0.1},
                                                             "validation_hybrid": {"ndcg@10": 0.3}}}
    assert trial_score(info) == 0.3
    info["hybrid"] = None
    assert trial_score(info) == 0.1


def test_base_point_lies_in_the_space_and_round_trips(tiny_bert_dir: Path) -> None:
    base = _base(tiny_bert_dir)
    point = base_point(base)
    # the tiny config has 16 negatives and 3 epochs: outside the space, so clipped / replaced
    assert point["num_negatives"] == 1024 and point["epochs"] == 6
    cfg = with_retrieval(base, point)
    assert cfg.retrieval.num_negatives == 1024 and cfg.text == base.text


def test_search_runs_real_trials_and_the_first_is_the_base(
    tmp_path: Path, tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_synthetic_prepared(tmp_path / "data", seed=0)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # validation-only trials write nothing, not even into the working folder
    base = _base(tiny_bert_dir)
    calls = []

    def train(*args, **kwargs):
        from offline.model.train_run import train_run

        calls.append(kwargs["text_cache"])
        return train_run(*args, **kwargs)

    result = run_retrieval_search(data, base, n_trials=2, timeout=600, seed=0, train=train)
    assert result.n_trials == 2 and len(result.trials) == 2
    assert result.trials[0]["num_negatives"] == base_point(base)["num_negatives"]
    # one text cache shared by the trials: the second trial reused the first one's text stage
    assert calls[0] is calls[1] and len(calls[0]) == 1
    assert list(cwd.iterdir()) == []
    # ... and scored exactly what a fresh (uncached) run of its config scores
    from offline.model.train_run import train_run

    knobs = {k: v for k, v in result.trials[1].items() if k not in ("number", "value", "seconds")}
    fresh = train_run(data, with_retrieval(base, knobs), cwd, progress=False, validation_only=True)
    assert trial_score(fresh.info) == pytest.approx(result.trials[1]["value"], abs=1e-12)


def test_a_cached_text_stage_gives_the_same_run(tmp_path: Path, tiny_bert_dir: Path) -> None:
    from offline.model.train_run import train_run

    data = write_synthetic_prepared(tmp_path / "data", seed=3)
    base = _base(tiny_bert_dir)
    fresh = train_run(data, base, tmp_path, progress=False, validation_only=True).info
    cache: dict = {}
    first = train_run(data, base, tmp_path, progress=False, validation_only=True, text_cache=cache).info
    again = train_run(data, base, tmp_path, progress=False, validation_only=True, text_cache=cache).info
    assert len(cache) == 1
    for run in (first, again):
        assert run["metrics"]["validation"] == fresh["metrics"]["validation"]
        assert run["metrics"]["validation_hybrid"] == fresh["metrics"]["validation_hybrid"]


def test_tune_command_writes_a_train_config(tmp_path: Path, tiny_bert_dir: Path) -> None:
    from fulcrum.cli import app

    data = write_synthetic_prepared(tmp_path / "data", seed=1)
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump(_base(tiny_bert_dir).model_dump(mode="json")))
    out = tmp_path / "best.yaml"
    r = CliRunner().invoke(
        app,
        ["tune", "--target", "retrieval", "--data", str(data), "--config", str(base), "--trials", "2",
         "--out", str(out), "--no-progress"],
    )
    assert r.exit_code == 0, r.output
    text = out.read_text()
    assert text.startswith("# fulcrum tune --target retrieval") and "trial 1:" in text
    cfg = load_config(out)  # comments aside, a valid training config
    assert cfg.text.model_path == str(tiny_bert_dir)


def test_tune_command_rejects_a_bad_target_and_a_missing_folder(tmp_path: Path) -> None:
    from fulcrum.cli import app

    r = CliRunner().invoke(app, ["tune", "--target", "towers"])
    assert r.exit_code == 2 and "ranker or retrieval" in r.output
    r = CliRunner().invoke(app, ["tune", "--target", "retrieval", "--method", "focal"])
    assert r.exit_code == 2 and "--target ranker only" in r.output
    r = CliRunner().invoke(app, ["tune", "--target", "retrieval", "--data", str(tmp_path / "nothing"),
                                 "--no-progress"])
    assert r.exit_code == 2 and "not found" in r.output


@pytest.mark.parametrize("days", [0])
def test_tuning_needs_a_validation_slice(tmp_path: Path, tiny_bert_dir: Path, days: float) -> None:
    base = _base(tiny_bert_dir)
    data = base.model_dump(mode="json")
    data["retrieval"]["validation_days"] = days
    with pytest.raises(ValueError, match="retrieval.validation_days"):
        run_retrieval_search(tmp_path, config_from_dict(data), n_trials=1)


def test_augmentation_ablation_runs_four_real_arms(tmp_path: Path, tiny_bert_dir: Path) -> None:
    from fulcrum.cli import app
    from offline.model.augment_ablation import arm_config

    base = _base(tiny_bert_dir)
    assert arm_config(base, False, True).retrieval.seq_aug.enabled is False
    assert arm_config(base, True, False).text.aug.enabled is False
    assert arm_config(base, True, True) == base
    data = write_synthetic_prepared(tmp_path / "data", seed=2)
    cfg = tmp_path / "base.yaml"
    cfg.write_text(yaml.safe_dump(base.model_dump(mode="json")))
    out = tmp_path / "aug"
    r = CliRunner().invoke(app, ["ablate-augmentation", "--data", str(data), "--config", str(cfg),
                                 "--out", str(out)])
    assert r.exit_code == 0, r.output
    import json

    rows = json.loads((out / "augmentation.json").read_text())["arms"]
    assert [(x["sequence_augmentation"], x["text_augmentation"]) for x in rows] == [
        (True, True), (False, True), (True, False), (False, False)
    ]
    assert all(x["val_ndcg@10"] is not None and 0.0 <= x["val_ndcg@10"] <= 1.0 for x in rows)
    assert "no augmentation" in (out / "augmentation.md").read_text()
