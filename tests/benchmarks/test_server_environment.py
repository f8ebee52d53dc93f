"""benchmarks/real_path.py starts `fulcrum serve` without the prometheus multi-process directory
that importing Feast (to draw warm users) exports into the benchmark's own environment."""

from __future__ import annotations

import feast.metrics

from benchmarks.real_path import PROMETHEUS_MULTIPROC_VARS, server_environment


def test_feasts_own_metrics_directory_is_not_inherited(monkeypatch) -> None:
    monkeypatch.setattr(feast.metrics, "_owns_mp_dir", True)
    monkeypatch.setattr(feast.metrics, "_prometheus_mp_dir", "/feast-made-it")
    for var in PROMETHEUS_MULTIPROC_VARS:
        monkeypatch.setenv(var, "/feast-made-it")
    env = server_environment(FULCRUM_FEATURE_STORE="sqlite")
    assert not set(PROMETHEUS_MULTIPROC_VARS) & set(env) and env["FULCRUM_FEATURE_STORE"] == "sqlite"
    # a directory set on purpose (not the one Feast made) is the caller's choice: kept
    monkeypatch.setenv(PROMETHEUS_MULTIPROC_VARS[0], "/chosen")
    assert server_environment()[PROMETHEUS_MULTIPROC_VARS[0]] == "/chosen"
