"""Sub-processes the demo starts, and their clean shutdown (also on Ctrl-C or an error).

``Processes`` is a context manager: everything started through it (a `fulcrum serve`, a
`fulcrum ingest`, a Kafka broker through deploy/kafka/kafka.sh) is stopped on exit, newest first:
SIGTERM (the server goes NOT_SERVING, then stops with its grace period), then SIGKILL after a
timeout. Children get their own session, so a Ctrl-C in the terminal reaches only the demo, which
then stops them in order.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from fulcrum.core import environment
from fulcrum.core.ports import free_port  # noqa: F401  (re-exported: the demo's helpers)

log = logging.getLogger(__name__)




def log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Processes:
    def __init__(self) -> None:
        self._stack: list[tuple[str, Callable[[], None]]] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()

    def start(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen:
        """Start ``argv`` with stdout+stderr to ``log_path``; it is stopped on exit."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        out = open(log_path, "ab")  # noqa: SIM115 - closed by the stop callback
        proc = subprocess.Popen(
            list(argv), stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )
        log.info("started %s (pid %d): %s", name, proc.pid, " ".join(argv))

        def stop() -> None:
            try:
                terminate(proc)
            finally:
                out.close()

        self._stack.append((name, stop))
        return proc

    def on_exit(self, name: str, fn: Callable[[], None]) -> None:
        """Run ``fn`` on exit (e.g. `kafka.sh stop`), in reverse order of registration."""
        self._stack.append((name, fn))

    def stop_all(self) -> None:
        while self._stack:
            name, fn = self._stack.pop()
            try:
                fn()
                log.info("stopped %s", name)
            except Exception:  # noqa: BLE001 - keep stopping the others
                log.warning("could not stop %s cleanly", name, exc_info=True)


def terminate(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL. Only this process, by its pid."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        log.warning("pid %d did not stop in %.0f s: SIGKILL", proc.pid, timeout)
        proc.kill()
        proc.wait(10)


def wait_serving(address: str, proc: subprocess.Popen, deadline_s: float, log_path: Path) -> float:
    """Poll the gRPC health service until SERVING; returns the seconds waited.

    Raises RuntimeError when the process exits first or the deadline passes (with its log tail).
    """
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    started = time.monotonic()
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"the server exited with code {proc.returncode} before serving:\n{log_tail(log_path)}"
                )
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return time.monotonic() - started
            except grpc.RpcError:
                pass
            if time.monotonic() - started > deadline_s:
                raise RuntimeError(
                    f"the server was not SERVING after {deadline_s:.0f} s:\n{log_tail(log_path)}"
                )
            time.sleep(0.5)


def child_env(**overrides: str) -> dict[str, str]:
    return environment.child_environment(**overrides)
