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


def test_bench_quality_puts_the_bundle_over_a_control_bundle(tiny_bundle: Path, tmp_path: Path):
    """--control-bundle: the control's two rows, and each Fulcrum row over the control row of its
    kind only (paired, same users); the bundle against itself gives a ratio of exactly 1."""
    data = tiny_bundle.parent.parent / "data"
    version = json.loads((tiny_bundle / "manifest.json").read_text())["version"]
    args = ["bench", "quality", "--data", str(data), "--bundle", str(tiny_bundle),
            "--control-bundle", str(tiny_bundle), "--out", str(tmp_path / "q"), "-b", "popularity",
            "--no-tune", "--resamples", "200", "--threads", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads((tmp_path / "q" / "quality.json").read_text())
    control_serving = f"Control {version} (serving default)"
    control_towers = f"Control {version} (towers alone)"
    assert payload["control_rows"] == [control_serving, control_towers]
    pairs = {(r["numerator"], r["denominator"]): r for r in payload["ratios"]}
    assert set(pairs) == {(SERVING, "popularity"), (TOWERS, "popularity"),
                          (SERVING, control_serving), (TOWERS, control_towers)}
    same = pairs[(SERVING, control_serving)]["ndcg@10"]
    rows = payload["rows"]
    assert rows[control_serving]["metrics"]["warm"] == rows[SERVING]["metrics"]["warm"]
    if same["ratio"] is not None:  # a tiny bundle may score 0 (ratio undefined)
        assert same["ratio"] == 1.0 and same["low"] == 1.0 and same["high"] == 1.0
    assert control_towers in (tmp_path / "q" / "quality.md").read_text()


def test_control_bundle_needs_a_bundle_and_distinct_versions(tiny_bundle: Path, tmp_path: Path):
    data = tiny_bundle.parent.parent / "data"
    base = ["bench", "quality", "--data", str(data), "--out", str(tmp_path / "q"), "-b", "popularity",
            "--no-tune"]

    def said(result) -> str:  # the error box's text, unwrapped
        return " ".join(result.output.replace("│", " ").split())

    alone = CliRunner().invoke(app, [*base, "--control-bundle", str(tiny_bundle)])
    assert alone.exit_code == 2 and "needs --bundle" in said(alone)
    twice = CliRunner().invoke(app, [*base, "--bundle", str(tiny_bundle), "--control-bundle",
                                     str(tiny_bundle), "--control-bundle", str(tiny_bundle)])
    assert twice.exit_code == 2 and "two control bundles with the same version" in said(twice)
    assert not (tmp_path / "q").exists()
