"""`fulcrum bench quality --bundle` on the tiny real bundle: model rows, ratios over baselines."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from fulcrum.cli import app
from offline.eval.bundle_rows import SERVING, TOWERS, serving_ordering, training_seconds


def test_bench_quality_with_a_bundle(tiny_bundle: Path, tmp_path: Path):
    data = tiny_bundle.parent.parent / "data"
    args = [
        "bench",
        "quality",
        "--data",
        str(data),
        "--bundle",
        str(tiny_bundle),
        "--out",
        str(tmp_path / "q"),
        "-b",
        "popularity",
        "-b",
        "itemknn",
        "--no-tune",
        "--resamples",
        "200",
        "--threads",
        "1",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads((tmp_path / "q" / "quality.json").read_text())
    assert payload["model_rows"] == [SERVING, TOWERS]
    serving = payload["rows"][SERVING]
    # the serving row carries every ordering default of online/config.py
    assert serving["settings"]["mmr_weight"] == serving_ordering()["diversity"]
    assert payload["rows"][TOWERS]["settings"]["hybrid"] is False
    # every model row over every baseline, with an interval around the point
    pairs = {(r["numerator"], r["denominator"]) for r in payload["ratios"]}
    assert pairs == {(m, b) for m in (SERVING, TOWERS) for b in ("popularity", "itemknn")}
    assert payload["ratio_reference"] is None
    assert SERVING in (tmp_path / "q" / "quality.md").read_text()


def test_training_seconds_prefers_the_total():
    assert training_seconds({"metrics": {"timings": {"a_s": 1.0, "b_s": 2.0, "total_s": 3.5}}}) == 3.5
    assert training_seconds({"metrics": {"timings": {"a_s": 1.0, "b_s": 2.0}}}) == 3.0
    assert training_seconds({}) is None


def test_serving_ordering_reads_a_serve_config(tmp_path: Path):
    import pytest

    cfg = tmp_path / "serving.yaml"
    cfg.write_text("# chosen on validation\nranking_mode: blend\ntail_boost: 0.3\ndiversity: 0\nport: 1\n")
    order = serving_ordering(cfg)
    # the file's ordering fields win; the rest keep the built-in defaults; other fields are ignored
    assert (order["ranking_mode"], order["tail_boost"], order["diversity"]) == ("blend", 0.3, 0.0)
    assert order["blend_weight"] == serving_ordering()["blend_weight"]
    cfg.write_text("ranking_mode: fastest\n")
    with pytest.raises(ValueError, match="ranking_mode"):
        serving_ordering(cfg)


def test_bench_quality_serving_row_uses_the_serve_config(tiny_bundle: Path, tmp_path: Path):
    data = tiny_bundle.parent.parent / "data"
    cfg = tmp_path / "serving.yaml"
    cfg.write_text("ranking_mode: ranker\ntail_boost: 0.2\ndiversity: 0.0\n")
    result = CliRunner().invoke(app, ["bench", "quality", "--data", str(data), "--bundle", str(tiny_bundle),
                                      "--serving-config", str(cfg), "--out", str(tmp_path / "q"),
                                      "-b", "popularity", "--no-tune", "--resamples", "100",
                                      "--threads", "1"])
    assert result.exit_code == 0, result.output
    serving = json.loads((tmp_path / "q" / "quality.json").read_text())["rows"][SERVING]
    assert serving["settings"]["ranking_mode"] == "ranker" and serving["settings"]["boost"] == 0.2
    assert str(cfg) in serving["ordering_source"]
    # without a bundle the option has nothing to order
    bad = CliRunner().invoke(app, ["bench", "quality", "--data", str(data), "--serving-config", str(cfg)])
    assert bad.exit_code == 2 and "needs --bundle" in bad.output
