"""`fulcrum bench serve` runs end to end on a small bundle and writes its JSON (figures not asserted):
with the in-memory store (labelled as such) and with a real Feast repo's warm users."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serving_helpers import make_bundle

ROOT = Path(__file__).resolve().parents[2]


def test_bench_serve_writes_table_and_json(tmp_path):
    bundle = make_bundle(tmp_path / "b")
    out = tmp_path / "serve.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fulcrum.cli",
            "bench",
            "serve",
            "--bundle",
            str(bundle),
            "--requests",
            "20",
            "--concurrency",
            "4",
            "--users",
            "5",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (
        "Recommend QPS at concurrency 4" in proc.stdout and "Recommend p50 / bare forward p50" in proc.stdout
    )
    assert "QPS(4) / QPS(1)" in proc.stdout
    r = json.loads(out.read_text())
    assert r["failed_calls"] == 0 and r["bundle_version"] == "test-1" and r["features"] == "in-memory"
    assert r["requests_per_measurement"] == 20
    for key in ("bare_forward_recommend_ms", "recommend_ms", "search_ms", "transport_floor_ms"):
        assert 0 < r[key]["p50"] < float("inf") and 0 < r[key]["p99"] < float("inf"), key
        # the table prints the JSON's figures, not others
        assert f"{r[key]['p50']:.3f}" in proc.stdout and f"{r[key]['p99']:.3f}" in proc.stdout, key
    ratio = r["ratios"]["recommend_p50_over_bare_forward_p50"]
    assert ratio == pytest.approx(r["recommend_ms"]["p50"] / r["bare_forward_recommend_ms"]["p50"])
    assert set(r["qps"]) == {"1", "4"} and all(v > 0 for v in r["qps"].values())
    assert set(r["ratios"]) == {
        "recommend_p50_over_bare_forward_p50",
        "search_p50_over_bare_forward_p50",
        "qps_4_over_qps_1",
    }


def test_bench_serve_reads_warm_users_from_the_feature_store(tmp_path):
    import shutil

    from offline.features.pipeline import build_features
    from tests.feature_repo_copy import copy_repo, synthetic_events

    bundle = make_bundle(tmp_path / "b")
    repo = copy_repo(tmp_path)
    events = synthetic_events(n=200)  # items named like the test bundle's catalogue
    events["item_id"] = [f"sku-{int(i[1:]):03d}" for i in events["item_id"]]
    build_features(events, repo, store="sqlite")
    out = tmp_path / "serve.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fulcrum.cli",
            "bench",
            "serve",
            "--bundle",
            str(bundle),
            "--feature-repo",
            str(repo),
            "--requests",
            "20",
            "--concurrency",
            "1,3",
            "--users",
            "5",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(out.read_text())
    assert r["features"] == "feast sqlite" and r["warm_users"] == 5  # users with a row in the store
    assert set(r["throughput"]) == {"1", "3"} and r["failed_calls"] == 0
    for row in r["throughput"].values():
        py = row["python"]
        assert py["qps"] > 0 and py["p99_ms"] >= py["p50_ms"] > 0 and py["server_cpu_ms_per_call"] > 0
        # ghz runs exactly when it is on PATH (its protoset compiled by the bench)
        assert ("ghz" in row) == (shutil.which("ghz") is not None)
    assert "features: feast sqlite" in proc.stdout.replace("\n", " ")


def test_bench_serve_refuses_a_folder_that_is_no_feast_repo(tmp_path):
    bundle = make_bundle(tmp_path / "b")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fulcrum.cli",
            "bench",
            "serve",
            "--bundle",
            str(bundle),
            "--feature-repo",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "feature_store.yaml" in proc.stderr
