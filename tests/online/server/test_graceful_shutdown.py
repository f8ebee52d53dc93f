"""`fulcrum serve` on SIGTERM under load: health NOT_SERVING first, a drain period, then
``stop(grace)``. Every unary call ends OK or UNAVAILABLE (never CANCELLED), an open IngestEvents
stream ends UNAVAILABLE naming what was processed, and the process exits 0.

The real CLI in a subprocess on port 0; clients are plain channels with retries OFF, so the test
sees the raw status codes a retry policy would have to deal with.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fulcrum.v1 import recommender_pb2 as pb
from fulcrum.v1 import recommender_pb2_grpc
from tests.serve_process import start_serve, wait_serving
from tests.serving_helpers import make_bundle

CONFIG = (
    "host: 127.0.0.1\nport: 0\nmetrics_port: 0\nshutdown_drain_s: 0.5\ngrace_s: 10\n"
    "security: {allow_plaintext: true, allow_unauthenticated: true}\n"
)
NO_RETRIES = [("grpc.enable_retries", 0)]
#: a client-side round robin channel that honours the health service (gRPC client-side health
#: checking), as docs/deployment.md configures the clients; retries off, so raw codes show
HEALTH_CHECKED = [
    *NO_RETRIES,
    (
        "grpc.service_config",
        json.dumps(
            {
                "loadBalancingConfig": [{"round_robin": {}}],
                "healthCheckConfig": {"serviceName": "fulcrum.v1.Recommender"},
            }
        ),
    ),
]
CALLERS = 4


def _start(tmp_path: Path) -> tuple[subprocess.Popen, int, list[str]]:
    cfg = tmp_path / "serve.yaml"
    cfg.write_text(CONFIG)
    served = start_serve(make_bundle(tmp_path / "b"), cfg)
    return served.proc, served.port, served.lines


def _caller(port: int, i: int, codes: list, done: threading.Event) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=HEALTH_CHECKED) as ch:
        stub = recommender_pb2_grpc.RecommenderStub(ch)
        while not done.is_set():
            try:
                stub.Recommend(pb.RecommendRequest(user_id=f"u{i}", k=5), timeout=30)
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as e:
                codes.append(e.code())
                if e.code() != grpc.StatusCode.UNAVAILABLE:
                    codes.append(f"{e.code().name}: {e.details()} {e.debug_error_string()}")
                if e.code() == grpc.StatusCode.UNAVAILABLE:
                    time.sleep(0.01)  # the port is closed: no busy loop until the test ends


def _ingester(port: int, done: threading.Event, out: dict) -> None:
    """One long IngestEvents stream: an ITEM_UPSERT every 20 ms until the server ends it."""

    def events():
        n = 0
        while not done.is_set():
            n += 1
            out["sent"] = n
            yield pb.Event(
                event_id=f"up-{n}", type=pb.ITEM_UPSERT, item_id=f"new-{n}",
                item_text="party lantern", price=3.0, timestamp_ms=int(time.time() * 1000),
            )
            time.sleep(0.02)

    with grpc.insecure_channel(f"127.0.0.1:{port}", options=NO_RETRIES) as ch:
        try:
            out["summary"] = recommender_pb2_grpc.RecommenderStub(ch).IngestEvents(events(), timeout=60)
            out["code"] = grpc.StatusCode.OK
        except grpc.RpcError as e:
            out["code"], out["details"] = e.code(), e.details()


def _health_watch(port: int, seen: list, done: threading.Event) -> None:
    """Health.Check every 10 ms until NOT_SERVING, then a new TCP connection every 10 ms until
    the port refuses it; records each change. (No calls after NOT_SERVING: this watcher is a
    health-checking client, it stops sending calls there.)"""
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=NO_RETRIES) as ch:
        health = health_pb2_grpc.HealthStub(ch)
        while not done.is_set():
            try:
                got = health_pb2.HealthCheckResponse.ServingStatus.Name(
                    health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
                )
            except grpc.RpcError as e:
                got = f"error {e.code().name}"
            if not seen or seen[-1] != got:
                seen.append(got)
            if got != "SERVING":
                break
            time.sleep(0.01)
    while not done.is_set():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        except ConnectionRefusedError:
            seen.append("port closed")
            return
        except ConnectionResetError:
            pass  # accepted into the backlog as the listener closed: poll again until refused
        time.sleep(0.01)


def _poll(cond, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_sigterm_drains_calls_ok_or_unavailable_never_cancelled(tmp_path):
    proc, port, lines = _start(tmp_path)
    done = threading.Event()
    codes: list[list] = [[] for _ in range(CALLERS)]
    ingest: dict = {}
    health_seen: list[str] = []
    threads = [threading.Thread(target=_caller, args=(port, i, codes[i], done)) for i in range(CALLERS)]
    threads.append(threading.Thread(target=_ingester, args=(port, done, ingest)))
    watcher = threading.Thread(target=_health_watch, args=(port, health_seen, done))
    try:
        wait_serving(port, 60)
        for t in threads:
            t.start()
        _poll(lambda: all(len(c) >= 10 for c in codes) and ingest.get("sent", 0) >= 5, "the first calls")
        watcher.start()
        _poll(lambda: health_seen == ["SERVING"], "the health watcher's first answer")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        _poll(lambda: "code" in ingest, "the IngestEvents stream's end")
    finally:
        done.set()
        for t in [*threads, watcher]:
            if t.is_alive() or t.ident is not None:
                t.join(timeout=60)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = "".join(lines)
    assert proc.returncode == 0, out
    assert "shutting down (health NOT_SERVING" in out, out
    every = [c for cs in codes for c in cs if not isinstance(c, str)]
    details = [c for cs in codes for c in cs if isinstance(c, str)]
    assert every.count(grpc.StatusCode.OK) >= 10 * CALLERS
    unexpected = {c for c in every if c not in (grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE)}
    assert not unexpected, f"calls ended {unexpected} ({details}): {out}"
    # health flipped to NOT_SERVING while the port still answered, before it closed
    assert health_seen[:3] == ["SERVING", "NOT_SERVING", "port closed"], health_seen
    assert health_seen[-1] == "port closed", health_seen
    # the open stream was ended by the server, retryably, naming what it processed
    assert ingest["code"] == grpc.StatusCode.UNAVAILABLE, ingest
    assert re.search(r"shutting down: the first \d+ events of this stream were processed", ingest["details"])
