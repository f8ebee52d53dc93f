"""`fulcrum bench ingest` runs end to end on a small count against the real broker (figures are
printed and written, never asserted)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.kafka


def test_bench_ingest_writes_its_json(kafka_bootstrap: str, tmp_path) -> None:
    import typer
    from typer.testing import CliRunner

    from online.ingest.bench import bench_ingest

    app = typer.Typer()
    app.command()(bench_ingest)
    out = tmp_path / "ingest.json"
    result = CliRunner().invoke(
        app, ["--events", "3000", "--batch-size", "250", "--bootstrap", kafka_bootstrap, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    rows = {r["mode"]: r for r in report["results"]}
    assert set(rows) == {"batch", "single"}
    assert rows["batch"]["records"] == 12 and rows["single"]["records"] == 3000  # 3000 / 250 batches
    assert all(r["applied"] == 3000 and r["consume_events_per_s"] > 0 for r in rows.values())
    assert report["visibility_latency"] is None and report["bar_events_per_s"] == 20_000
    assert "bar: sustained consume" in result.output and "wrote" in result.output
