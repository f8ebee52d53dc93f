"""Serving ordering chosen on validation: the pure rule, the guard, the whole procedure on a tiny
real validation bundle (validation view -> train -> choose-serving -> a serve config)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fulcrum.cli import app
from offline.report.serving_choice import choose


def _pt(ndcg: float, boost: float = 0.0, mmr: float = 0.0, tail: float = 0.1) -> dict:
    return {"ndcg@10": ndcg, "boost": boost, "mmr_weight": mmr, "tail_share@10": tail}


def test_choose_takes_the_best_plain_order_then_its_tail_point():
    sweeps = {
        "retrieval": {"base": _pt(0.10), "best": _pt(0.099, 0.3, 0.2, 0.4)},
        "ranker": {"base": _pt(0.12), "best": _pt(0.115, 0.5, 0.0, 0.3)},
        "blend": {"base": _pt(0.11), "best": _pt(0.11, 0.1, 0.4, 0.5)},
    }
    # the ranker's plain order is best on validation (0.12); its own best point decides the knobs
    assert choose(sweeps) == {"ranking_mode": "ranker", "tail_boost": 0.5, "diversity": 0.0}
    # a tie goes to the earlier mode (retrieval: the cheapest to serve)
    sweeps["retrieval"]["base"] = _pt(0.12)
    assert choose(sweeps)["ranking_mode"] == "retrieval"
    with pytest.raises(ValueError):
        choose({})
    # no ordering above 0 on validation: refused, not an arbitrary pick
    from offline.report.serving_choice import NoSignal

    with pytest.raises(NoSignal, match="arbitrary"):
        choose({"retrieval": {"base": _pt(0.0), "best": _pt(0.0, 1.0, 0.4, 1.0)}})


def test_a_bundle_trained_on_the_validation_slice_is_refused(tiny_bundle: Path, tmp_path: Path):
    data = tiny_bundle.parent.parent / "data"  # the bundle trained on all of this folder's train
    r = CliRunner().invoke(app, ["choose-serving", "--data", str(data), "--bundle", str(tiny_bundle),
                                 "--out", str(tmp_path / "c")])
    assert r.exit_code == 2
    assert "refused" in r.output and not (tmp_path / "c").exists()


def test_validation_view_then_choice_gives_a_serve_config(tmp_path: Path, tiny_bert_dir: Path):
    from offline.data.dataset import load_prepared
    from offline.export.bundle import export_bundle
    from offline.export.synthetic_data import write_synthetic_prepared
    from offline.export.tiny import TINY_CONFIG
    from offline.model.train_run import train_run
    from offline.train_config import config_from_dict
    from online.config import load_config

    data = write_synthetic_prepared(tmp_path / "data", seed=0)
    val = tmp_path / "val"
    r = CliRunner().invoke(app, ["data", "validation-view", "--data", str(data), "--out", str(val)])
    assert r.exit_code == 0, r.output
    full, view = load_prepared(data), load_prepared(val)
    # the view's train ends where the folder's validation slice starts; its test is that slice
    assert view.split.cutoff == full.split.validation_start
    assert view.events["timestamp"].max() < full.split.cutoff
    cfg = {**TINY_CONFIG, "text": {**TINY_CONFIG["text"], "model_path": str(tiny_bert_dir)}}
    run = train_run(val, config_from_dict(cfg), tmp_path / "run", progress=False)
    vb = export_bundle(run.run_dir, tmp_path / "bundles")
    out = tmp_path / "choice"
    r = CliRunner().invoke(app, ["choose-serving", "--data", str(data), "--bundle", str(vb),
                                 "--out", str(out)])
    assert r.exit_code == 0, r.output
    result = json.loads((out / "serving_choice.json").read_text())
    assert result["chosen_on"].startswith("validation slice")
    assert set(result["sweeps"]) == {"retrieval", "ranker", "blend"}
    assert result["chosen"] == choose(result["sweeps"])
    serve = load_config(out / "serving.yaml")  # a valid serve config carrying the choice
    assert serve.ranking_mode == result["chosen"]["ranking_mode"]
    assert serve.tail_boost == result["chosen"]["tail_boost"]
    assert serve.diversity == result["chosen"]["diversity"]
