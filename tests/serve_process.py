"""`fulcrum serve` as a child process on a free loopback port, for the client tests.

Used the way a client's user runs the server: the real CLI, a config file, a bundle folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "fulcrum.cli"]


def write_loopback_config(path: Path) -> Path:
    """A serving config for 127.0.0.1, port 0, no metrics port, plaintext and no credentials
    (said explicitly when the server has a ``security`` block that would refuse them)."""
    from online.config import ServeConfig

    text = "host: 127.0.0.1\nport: 0\nmetrics_port: 0\n"
    if "security" in ServeConfig.model_fields:
        text += "security: {allow_plaintext: true, allow_unauthenticated: true}\n"
    path.write_text(text)
    return path


@dataclasses.dataclass
class ServeProcess:
    """A started `fulcrum serve` child: its process, the port it printed, its output so far."""

    proc: subprocess.Popen
    port: int
    lines: list[str]
    reader: threading.Thread


def start_serve(
    bundle: Path, config: Path, log_path: Path | None = None, start_timeout_s: float = 120.0
) -> ServeProcess:
    """Start `fulcrum serve --bundle BUNDLE --config CONFIG` (no FULCRUM_* variables inherited) and
    return once it printed its port; its output is kept in ``lines`` (and ``log_path``). The
    caller stops it; a server that does not start is killed and reported with its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FULCRUM_")}
    proc = subprocess.Popen(
        [*CLI, "serve", "--bundle", str(bundle), "--config", str(config)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    found: list[int] = []
    ready = threading.Event()

    def pump() -> None:  # keep reading so the server never blocks on a full pipe
        with contextlib.ExitStack() as stack:
            log = stack.enter_context(log_path.open("w")) if log_path is not None else None
            for line in proc.stdout:
                lines.append(line)
                if log is not None:
                    log.write(line)
                    log.flush()
                m = re.search(r"on port (\d+)", line)
                if m and not found:
                    found.append(int(m.group(1)))
                    ready.set()
        ready.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    if not ready.wait(start_timeout_s) or not found:
        proc.kill()
        proc.wait()
        raise RuntimeError("fulcrum serve did not start:\n" + "".join(lines))
    return ServeProcess(proc, found[0], lines, reader)


def wait_serving(port: int, timeout_s: float = 120.0) -> None:
    """Poll the health service on ``port`` until it reports SERVING (or raise at the deadline)."""
    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                status = health.Check(health_pb2.HealthCheckRequest(), timeout=5, wait_for_ready=True)
                if status.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    raise
            if time.monotonic() > deadline:
                raise RuntimeError(f"fulcrum serve on port {port} never reported SERVING")
            time.sleep(0.05)


@contextlib.contextmanager
def fulcrum_serve(
    bundle: Path, workdir: Path, start_timeout_s: float = 120.0, extra_config: str = ""
) -> Iterator[int]:
    """Start `fulcrum serve --bundle BUNDLE` on 127.0.0.1, port 0; yield the port once the health
    service answers SERVING; SIGTERM it afterwards. Its output goes to ``workdir/serve.log``.
    ``extra_config``: YAML lines appended to the loopback config."""
    cfg = write_loopback_config(workdir / "serve.yaml")
    if extra_config:
        cfg.write_text(cfg.read_text() + extra_config)
    served = start_serve(bundle, cfg, workdir / "serve.log", start_timeout_s)
    proc = served.proc
    try:
        wait_serving(served.port, start_timeout_s)
        yield served.port
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        served.reader.join(timeout=10)
