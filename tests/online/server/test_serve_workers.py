"""`workers: N`: N `fulcrum serve` processes on one port (SO_REUSEPORT), a real Feast repo behind
them; settings it cannot work with are refused naming the field; SIGTERM drains every worker;
a worker that dies stops the others and the parent exits non-zero naming it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from fulcrum.core.errors import ConfigError
from fulcrum.v1 import recommender_pb2 as pb
from fulcrum.v1 import recommender_pb2_grpc
from online.config import build_config
from online.server.workers import check_workers_config, worker_config
from tests.feature_repo_copy import copy_repo, synthetic_events
from tests.fixtures.services import free_port
from tests.serving_helpers import make_bundle

ROOT = Path(__file__).resolve().parents[3]
CLI = [sys.executable, "-m", "fulcrum.cli"]


def test_settings_workers_cannot_use_are_refused_naming_the_field(tmp_path):
    with pytest.raises(ConfigError, match="port"):
        check_workers_config(build_config({"workers": 2, "port": 0, "feature_repo": str(tmp_path)}, env={}))
    with pytest.raises(ConfigError, match="feature_repo"):
        check_workers_config(build_config({"workers": 2, "port": 5005}, env={}))
    check_workers_config(build_config({"workers": 1, "port": 0}, env={}))  # one process: anything goes
    cfg = build_config({"workers": 3, "port": 5005, "metrics_port": 9500}, env={})
    assert [worker_config(cfg, i).metrics_port for i in range(3)] == [9500, 9501, 9502]
    off = build_config({"workers": 3, "port": 5005, "metrics_port": 0}, env={})
    assert worker_config(off, 2).metrics_port == 0


def _start(tmp_path: Path):
    from offline.features.pipeline import build_features

    bundle = make_bundle(tmp_path / "b")
    repo = copy_repo(tmp_path)
    build_features(synthetic_events(n=100), repo, store="sqlite")
    port = free_port()
    cfg = tmp_path / "serve.yaml"
    cfg.write_text(
        f"host: 127.0.0.1\nport: {port}\nmetrics_port: 0\nworkers: 2\nfeature_repo: {repo}\n"
        "security: {allow_plaintext: true, allow_unauthenticated: true}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FULCRUM_")}
    proc = subprocess.Popen(
        [*CLI, "serve", "--bundle", str(bundle), "--config", str(cfg)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    up: set[str] = set()
    deadline = time.monotonic() + 120
    while len(up) < 2 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"worker (\d+): bundle \S+ on port (\d+)", line)
        if m and int(m.group(2)) == port:
            up.add(m.group(1))
    assert up == {"0", "1"}, "".join(lines)
    return proc, port


def _recommend(port: int) -> pb.RecommendResponse:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        return recommender_pb2_grpc.RecommenderStub(ch).Recommend(
            pb.RecommendRequest(user_id="u1", k=3), timeout=30
        )


def test_two_workers_share_the_port_and_drain_on_sigterm(tmp_path):
    proc, port = _start(tmp_path)
    try:
        for _ in range(4):  # a new connection each time: the kernel may pick either worker
            assert len(_recommend(port).items) == 3
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        assert "worker 0: shutting down" in out and "worker 1: shutting down" in out
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_worker_that_dies_stops_the_others_and_fails_the_parent(tmp_path):
    import psutil

    proc, port = _start(tmp_path)
    try:
        # the spawned workers (multiprocessing's resource tracker, if any, is not one)
        workers = [c for c in psutil.Process(proc.pid).children() if "spawn_main" in " ".join(c.cmdline())]
        assert len(workers) == 2
        workers[0].kill()
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode != 0
        assert "exited on its own" in out
    finally:
        if proc.poll() is None:
            proc.kill()
