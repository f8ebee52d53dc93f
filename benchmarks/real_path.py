"""The real-path table of issue 14, rerunnable: `python -m benchmarks.real_path`.

Starts `fulcrum serve` as its own process (what users run: the configured Feast store, SQLite or
Redis, optionally ``--workers N``) and measures with ghz (an independent Go load generator, so the
client costs little CPU): Recommend for warm users drawn from the store's data (sent in turn) at
concurrency 1 and 32 (``--levels``), Recommend for an unknown user, Search "red heart", and
Recommend on a second server with no feature repo (in-memory profiles). Every row gives QPS,
p50, p99, failed calls, the server processes' CPU per call (``/proc``, the worker processes
included) and the 1-minute load average at its end. ``--python-path DIR`` runs the server from
another source tree (a checkout of an older commit) for before/after tables in one session.

    python -m benchmarks.real_path --bundle artifacts/bundles/LATEST --feature-repo REPO \
        [--store sqlite|redis --redis-url redis://HOST:PORT] [--workers 2] [--seconds 10] \
        [--out real_path.json]
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import typer

from benchmarks import ghz_load
from benchmarks.proc_stats import tree_cpu_s, tree_rss_mb
from fulcrum.core.environment import child_environment

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: prometheus_client's multi-process switches (metrics in mmap files, slower per update)
PROMETHEUS_MULTIPROC_VARS = ("PROMETHEUS_MULTIPROC_DIR", "PROMETHEUS_MULTIPROCESS_DIR")


def server_environment(**overrides: str) -> dict[str, str]:
    """The environment for a `fulcrum serve` started from here: this process's, minus the
    prometheus multi-process directory that importing Feast (to draw the warm users) set in it.
    Feast's metrics module creates a temp dir and exports both variables when nothing set them;
    inherited, they switch every metric of the server to prometheus_client's multi-process
    mode (an mmap write and a pid check per update), which `fulcrum serve` run by a user does not
    have. A directory the caller set on purpose is kept."""
    env = child_environment(**overrides)
    feast_metrics = sys.modules.get("feast.metrics")
    if feast_metrics is not None and getattr(feast_metrics, "_owns_mp_dir", False):
        own = getattr(feast_metrics, "_prometheus_mp_dir", None)
        for var in PROMETHEUS_MULTIPROC_VARS:
            if env.get(var) == own:
                env.pop(var)
    return env


def start_server(
    bundle: Path,
    workdir: Path,
    name: str,
    repo: Path | None,
    store: str,
    redis_url: str | None,
    workers: int = 1,
    python_path: Path | None = None,
    port: int | None = None,
    extra: dict | None = None,
) -> tuple[subprocess.Popen, str]:
    """`fulcrum serve` on a free loopback port; returns (process, target) once it is SERVING."""
    port = port or free_port()
    cfg = {
        "host": "127.0.0.1",
        "port": port,
        "metrics_port": 0,
        "workers": workers,
        "security": {"allow_plaintext": True, "allow_unauthenticated": True},
        **(extra or {}),
    }
    if repo is not None:
        cfg["feature_repo"] = str(repo)
    path = workdir / f"{name}.json"  # JSON is YAML
    path.write_text(json.dumps(cfg))
    env = server_environment(PYTHONPATH=str(python_path or ROOT), FULCRUM_FEATURE_STORE=store)
    if redis_url:
        env["FULCRUM_REDIS_URL"] = redis_url
    log = open(workdir / f"{name}.log", "w")  # noqa: SIM115 - lives as long as the server
    cmd = [sys.executable, "-m", "fulcrum.cli", "serve", "--bundle", str(bundle), "--config", str(path)]
    proc = subprocess.Popen(cmd, cwd=python_path or ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    target = f"127.0.0.1:{port}"
    wait_serving(target, proc, workdir / f"{name}.log")
    return proc, target


def wait_serving(target: str, proc: subprocess.Popen | None = None, log: Path | None = None, timeout_s=120):
    """Poll the health service until SERVING (deadline ``timeout_s``); RuntimeError naming the log."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(target) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"fulcrum serve exited with {proc.returncode}; see {log}")
            try:
                # the log line too: with reuse_port the probe may reach another process on the port
                started = log is None or "fulcrum serve" in log.read_text()
                if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1 and started:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.2)
    raise RuntimeError(f"{target} not SERVING after {timeout_s} s; see {log}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def ghz(
    protoset: Path,
    target: str,
    call: str,
    data: list[dict],
    workdir: Path,
    *,
    concurrency: int,
    seconds: float | None = None,
    n: int | None = None,
    rps: int | None = None,
    connections: int = 1,
    extra: list[str] | None = None,
) -> dict:
    """One ghz run: QPS, p50/p99 ms, ok and failed calls (by status), its own CPU seconds."""
    import resource

    path = workdir / "ghz-data.json"
    path.write_text(json.dumps(data))
    cmd = ["nice", ghz_load.ghz_path() or "ghz", "--insecure", "--protoset", str(protoset)]
    # ghz refuses more connections than concurrent calls (c=1 rows of a --workers run)
    connections = min(connections, concurrency)
    cmd += ["--call", call, "-D", str(path), "-c", str(concurrency), "--connections", str(connections)]
    cmd += ["-z", f"{seconds}s", "--duration-stop", "wait"] if seconds else ["-n", str(n)]
    if rps:
        cmd += ["--rps", str(rps)]
    cmd += [*(extra or []), "--format", "json", target]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if not proc.stdout.strip():
        raise RuntimeError(f"ghz failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    report = json.loads(proc.stdout)
    lat = {x["percentage"]: x["latency"] / 1e6 for x in report.get("latencyDistribution") or []}
    codes = report.get("statusCodeDistribution") or {}
    return {
        "qps": float(report["rps"]),
        "p50_ms": lat.get(50, float("nan")),
        "p99_ms": lat.get(99, float("nan")),
        "calls": int(report.get("count", 0)),
        "ok": int(codes.get("OK", 0)),
        "failed": int(sum(v for k, v in codes.items() if k != "OK")),
        "errors": report.get("errorDistribution") or {},
        "client_cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
    }


def measure(proc: subprocess.Popen, protoset: Path, target: str, call: str, data, workdir, **kw) -> dict:
    """ghz plus the server tree's CPU per call and the load average after the run."""
    cpu0 = tree_cpu_s(proc.pid)
    row = ghz(protoset, target, call, data, workdir, **kw)
    cpu = tree_cpu_s(proc.pid) - cpu0
    row["server_cpu_ms_per_call"] = cpu / max(row["calls"], 1) * 1000.0
    row["client_cpu_ms_per_call"] = row.pop("client_cpu_s") / max(row["calls"], 1) * 1000.0
    row["server_rss_mb"] = tree_rss_mb(proc.pid)
    row["load_1m"] = os.getloadavg()[0]
    return row


def warm_user_ids(
    repo: Path, store: str, redis_url: str | None, bundle: Path, n: int, seed: int
) -> list[str]:
    """Warm users (a stored row with items the bundle knows) drawn seeded from the store's data."""
    from benchmarks.serve_users import warm_users
    from fulcrum.core.bundle.loader import load_bundle
    from online.features.client import OnlineFeatureClient

    catalogue = load_bundle(bundle, execution_provider="cpu").catalogue
    client = OnlineFeatureClient.open(repo, store, redis_url, default_timeout_s=5.0)
    try:
        return [u.user_id for u in warm_users(repo, client, catalogue, n, seed)]
    finally:
        client.close()


RECOMMEND = "fulcrum.v1.Recommender/Recommend"
SEARCH = "fulcrum.v1.Recommender/Search"


def real_path(
    bundle: Path = typer.Option(Path("artifacts/bundles/LATEST"), "--bundle"),  # noqa: B008
    feature_repo: Path = typer.Option(..., "--feature-repo", help="An applied Feast repo."),  # noqa: B008
    store: str = typer.Option("sqlite", "--store", help="sqlite | redis"),
    redis_url: str | None = typer.Option(None, "--redis-url"),
    workers: int = typer.Option(1, "--workers", min=1),
    connections: int = typer.Option(0, "--connections", help="ghz connections (0: = workers x 4)."),
    seconds: float = typer.Option(10.0, "--seconds", min=1.0, help="Seconds per row."),
    levels: str = typer.Option("1,32", "--levels", help="Concurrency levels of the warm rows."),
    users: int = typer.Option(200, "--users", min=1),
    in_memory: bool = typer.Option(True, "--in-memory/--no-in-memory", help="Also the no-repo row."),
    python_path: Path | None = typer.Option(None, "--python-path", help="Serve from this tree."),  # noqa: B008
    setting: list[str] = typer.Option(  # noqa: B008
        [], "--set", help="Server config KEY=JSON (repeatable), e.g. --set event_loop='\"uvloop\"'."
    ),
    warm_only: bool = typer.Option(False, "--warm-only", help="Only the warm Recommend rows."),
    out: Path | None = typer.Option(None, "--out"),  # noqa: B008
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Issue 14's table on the path users run, measured with ghz against `fulcrum serve`."""
    if ghz_load.ghz_path() is None:
        raise typer.BadParameter("ghz is not on PATH (go install github.com/bojand/ghz/cmd/ghz@latest)")
    if store == "redis" and not redis_url:
        raise typer.BadParameter("--store redis needs --redis-url", param_hint="--redis-url")
    conns = connections or (1 if workers == 1 else workers * 4)
    extra = {k: json.loads(v) for k, _, v in (x.partition("=") for x in setting)}
    bundle, feature_repo = bundle.resolve(), feature_repo.resolve()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print(f"server logs: {work} (kept while running)", file=sys.stderr)
        protoset = ghz_load.build_protoset(work / "recommender.protoset")
        ids = warm_user_ids(feature_repo, store, redis_url, bundle, users, seed)
        warm = [{"user_id": u, "k": 10} for u in ids]
        proc, target = start_server(
            bundle, work, "real", feature_repo, store, redis_url, workers, python_path, extra=extra
        )
        try:
            ghz(protoset, target, RECOMMEND, warm, work, concurrency=4, n=400, connections=conns)  # warm-up
            for c in [int(x) for x in levels.split(",")]:
                row = measure(
                    proc,
                    protoset,
                    target,
                    RECOMMEND,
                    warm,
                    work,
                    concurrency=c,
                    seconds=seconds,
                    connections=conns,
                )
                rows.append({"call": "Recommend, warm user", "c": c, **row})
            if warm_only:
                return _print(rows, store, workers, conns, seconds, extra, out)
            row = measure(
                proc,
                protoset,
                target,
                RECOMMEND,
                [{"user_id": "bench-unknown-user", "k": 10}],
                work,
                concurrency=1,
                seconds=seconds,
                connections=conns,
            )
            rows.append({"call": "Recommend, unknown user", "c": 1, **row})
            search = [{"query": "red heart", "k": 10}]
            ghz(protoset, target, SEARCH, search, work, concurrency=1, n=50)
            row = measure(
                proc,
                protoset,
                target,
                SEARCH,
                search,
                work,
                concurrency=1,
                seconds=seconds,
                connections=conns,
            )
            rows.append({"call": 'Search "red heart"', "c": 1, **row})
        finally:
            stop_server(proc)
        if in_memory and not warm_only:
            proc, target = start_server(bundle, work, "memory", None, store, None, 1, python_path)
            try:
                ghz(protoset, target, RECOMMEND, warm, work, concurrency=1, n=200)
                row = measure(proc, protoset, target, RECOMMEND, warm, work, concurrency=1, seconds=seconds)
                rows.append({"call": "Recommend, no feature repo (in-memory)", "c": 1, **row})
            finally:
                stop_server(proc)
    _print(rows, store, workers, conns, seconds, extra, out)


def _print(rows, store, workers, conns, seconds, extra, out) -> None:
    print(f"store {store}, workers {workers}, ghz connections {conns}, {seconds:g} s per row, config {extra}")
    print("| call | c | QPS | p50 ms | p99 ms | failed | server CPU ms/call | ghz CPU ms/call | load 1m |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['call']} | {r['c']} | {r['qps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.1f} | "
            f"{r['failed']} | {r['server_cpu_ms_per_call']:.2f} | {r['client_cpu_ms_per_call']:.2f} | "
            f"{r['load_1m']:.2f} |"
        )
    if out is not None:
        meta = {"store": store, "workers": workers, "connections": conns, "config": extra}
        out.write_text(json.dumps({**meta, "rows": rows}, indent=2))


if __name__ == "__main__":
    typer.run(real_path)
