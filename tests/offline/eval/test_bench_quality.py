"""`fulcrum bench quality` and the `evaluate` options on prepared folders of both split kinds."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from fulcrum.cli import app
from offline.data.prepare import write_prepared
from offline.eval.quality import ratios
from offline.eval.slices import user_cuts
from tests.fixtures.timed_purchases import CUTOFF, community_timed


@pytest.mark.parametrize("split", ["time", "leave-last-out"])
def test_bench_quality_writes_table_and_json(split, tmp_path):
    write_prepared(community_timed(split=split), tmp_path / "data")
    args = [
        "bench",
        "quality",
        "--data",
        str(tmp_path / "data"),
        "--out",
        str(tmp_path / "q"),
        "-b",
        "popularity",
        "-b",
        "itemknn",
        "-b",
        "itemknn+trend",
        "-b",
        "zeroshot-text",
        "--threads",
        "1",
        "--resamples",
        "200",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads((tmp_path / "q" / "quality.json").read_text())
    md = (tmp_path / "q" / "quality.md").read_text()
    assert payload["split_kind"] == split and payload["tuned_on_validation"]
    rows = payload["rows"]
    # the fixture's items have no text: the zero-shot row says why it did not run
    assert rows["zeroshot-text"] == {"skipped": "zero-shot text: no item in the catalogue has text"}
    assert "not applicable: zero-shot text" in md
    assert rows["itemknn"]["tuning"]["tuned"] and "per_user" not in rows["itemknn"]["metrics"]
    # no bundle: each baseline over the best baseline by NDCG@10, with intervals
    best = max(
        ("popularity", "itemknn", "itemknn+trend"), key=lambda n: rows[n]["metrics"]["warm"]["ndcg@10"]
    )
    assert payload["ratio_reference"] == best
    assert {r["numerator"] for r in payload["ratios"]} == {"popularity", "itemknn", "itemknn+trend"} - {best}
    for r in payload["ratios"]:
        nd = r["ndcg@10"]
        assert nd["low"] <= nd["ratio"] <= nd["high"] and nd["resamples"] == 200
    assert "NDCG@10 ratio [95 % CI]" in md and "load average" in md
    assert payload["machine"]["load_average_start"] is not None


def test_leave_last_out_cuts_are_each_users_basket():
    data = community_timed(split="leave-last-out")
    cuts = user_cuts(data)
    # every fixture user's last purchase is 6 days (+ u hours) after 2024-06-01
    assert cuts.per_user and cuts.of("u0-3") == (CUTOFF.timestamp() + 6 * 86_400 + 3 * 3600)
    val = user_cuts(data.validation_split())
    # validation: each user's last train basket, 3 days after the cut
    assert val.of("u0-3") == CUTOFF.timestamp() + 3 * 86_400 + 3 * 3600


def test_ratios_refuse_rows_scored_on_different_users():
    a = {"metrics": {"per_user": {"users": ["u1"], "ndcg@10": [1.0], "recall@10": [1.0]}}}
    b = {"metrics": {"per_user": {"users": ["u2"], "ndcg@10": [1.0], "recall@10": [1.0]}}}
    with pytest.raises(ValueError, match="different users"):
        ratios({"model": a}, {"base": b}, resamples=100)


def test_bench_quality_fails_loudly(tmp_path):
    bad = CliRunner().invoke(
        app, ["bench", "quality", "--data", str(tmp_path / "missing"), "-b", "popularity"]
    )
    assert bad.exit_code == 2 and "missing" in bad.output
    unknown = CliRunner().invoke(app, ["bench", "quality", "--data", str(tmp_path), "-b", "nope"])
    assert unknown.exit_code == 2 and "nope" in unknown.output


def test_evaluate_bundle_refuses_options_it_cannot_honour(tmp_path):
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "manifest.json").write_text("{}")
    for extra in (["--k", "5"], ["--validation"], ["--repeat-allowed"], ["--tune"]):
        result = CliRunner().invoke(app, ["evaluate", "--bundle", str(tmp_path / "bundle"), *extra])
        assert result.exit_code == 2 and extra[0] in result.output and "bench quality" in result.output


def test_evaluate_tunes_baselines_on_request(tmp_path):
    write_prepared(community_timed(), tmp_path / "data")
    args = [
        "evaluate",
        "--data",
        str(tmp_path / "data"),
        "-b",
        "itemknn",
        "--tune",
        "--out",
        str(tmp_path / "e"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    entry = json.loads((tmp_path / "e" / "results.json").read_text())["results"]["itemknn"]
    assert entry["tuning"]["tuned"] and "n_neighbours" in entry["tuning"]["chosen"]
