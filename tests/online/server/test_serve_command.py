"""`fulcrum serve` as a process: starts, reports SERVING, stops cleanly on SIGTERM; bad config exits 2."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.serving_helpers import make_bundle

ROOT = Path(__file__).resolve().parents[3]
CLI = [sys.executable, "-m", "fulcrum.cli"]


PLAINTEXT = "security: {allow_plaintext: true, allow_unauthenticated: true}\n"


def _env():
    env = dict(os.environ)
    env.pop("FULCRUM_PORT", None)
    return env


def test_serve_starts_serves_and_stops_on_sigterm(tmp_path):
    bundle = make_bundle(tmp_path / "b")
    cfg = tmp_path / "serve.yaml"
    cfg.write_text("host: 127.0.0.1\nport: 0\nmetrics_port: 0\n" + PLAINTEXT)
    proc = subprocess.Popen(
        [*CLI, "serve", "--bundle", str(bundle), "--config", str(cfg)],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        port = None
        deadline = time.monotonic() + 60
        lines = []
        while port is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r"on port (\d+)", line)
            port = int(m.group(1)) if m else None
        assert port, "".join(lines)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            status = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert status.status == health_pb2.HealthCheckResponse.SERVING
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "shutting down" in out
    finally:
        if proc.poll() is None:
            proc.kill()


def test_bad_config_and_bad_bundle_exit_2_with_a_clear_message(tmp_path):
    cfg = tmp_path / "serve.yaml"
    cfg.write_text("execution_provider: tpu\n")
    out = subprocess.run(
        [*CLI, "serve", "--bundle", str(tmp_path), "--config", str(cfg)],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "execution_provider" in out.stderr and "Traceback" not in out.stderr
    cfg.write_text("port: 0\nmetrics_port: 0\n" + PLAINTEXT)
    out = subprocess.run(
        [*CLI, "serve", "--bundle", str(tmp_path / "nope"), "--config", str(cfg)],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "bundle folder not found" in out.stderr and "Traceback" not in out.stderr
