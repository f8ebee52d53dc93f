"""The throughput ceiling of the real path, layer by layer: `python -m benchmarks.grpc_floor run`.

Issue 14's goal is ≥ 1,500 warm Recommend calls/s at concurrency 32 on a 2-core machine with the
load generator (ghz) on the same machine. Whether that is reachable is a CPU budget: 2 cores give
2,000 ms of CPU per second, so 1,500 calls/s leave 1.33 ms of CPU per call for the server AND ghz
together. This benchmark measures, with ghz on this machine, the CPU each layer costs per call:

- ``empty aio``: a trivial ``grpc.aio`` server in Python (same grpcio) whose unary handler
  returns an empty reply for ``fulcrum.v1.Recommender/GetModelInfo`` (no interceptor, no
  health, no reflection): what any Python gRPC server costs per call. 1 process, and 2
  processes on one port (``SO_REUSEPORT``, ghz with several connections); optionally the same
  on uvloop and the synchronous ``grpc.server`` with a thread pool (``--kinds``).
- ``fulcrum``: `fulcrum serve` on the bundle and Feast repo: GetModelInfo (Fulcrum's gRPC stack:
  interceptor, auth, metrics; no pipeline), the health check, warm Recommend (users drawn from
  the store), each with 1 and 2 workers, on SQLite and (``--redis-url``) Redis.
- ``ghz``: ghz's own CPU per call in every row (its process's rusage).

Each row: QPS, p50, p99, failed calls, the server processes' CPU per call (``/proc``), ghz's
CPU per call, and the load average before/after. The summary gives, for each layer, the QPS the
2 cores could carry if this benchmark had the machine to itself: ``cores x 1000 / (server CPU +
ghz CPU per call)``, against the goal.

    python -m benchmarks.grpc_floor run --feature-repo REPO [--redis-url redis://HOST:PORT] \
        [--seconds 5] [--kinds aio,aio-uvloop,sync] [--out floor.json]

``--redis-url``: the same repo's rows materialised into that Redis (``feature_store.redis.yaml``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import typer

from benchmarks import ghz_load
from benchmarks.proc_stats import tree_cpu_s
from benchmarks.real_path import RECOMMEND, ghz, start_server, stop_server, warm_user_ids
from fulcrum.core.environment import child_environment
from fulcrum.core.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
MODEL_INFO = "fulcrum.v1.Recommender/GetModelInfo"
HEALTH = "grpc.health.v1.Health/Check"
app = typer.Typer(add_completion=False)


# ---------------------------------------------------------------------------------------------
# the trivial server (run in its own process by `run`)


def _empty_handlers(sync: bool):
    import grpc

    if sync:

        def empty(request: bytes, context) -> bytes:
            return b""

    else:

        async def empty(request: bytes, context) -> bytes:  # type: ignore[misc]
            return b""

    # no (de)serialisers: the handler gets and returns raw bytes; b"" is an empty ModelInfo
    method = grpc.unary_unary_rpc_method_handler(empty)
    return grpc.method_handlers_generic_handler("fulcrum.v1.Recommender", {"GetModelInfo": method})


#: what a ``+LAYER`` suffix of an empty server's kind adds of Fulcrum's own stack
LAYERS = ("interceptor", "passthrough", "maxrpcs", "options")


def _passthrough():
    """A server interceptor that only hands the call on (what gRPC's interceptor machinery costs)."""
    import grpc

    class Passthrough(grpc.aio.ServerInterceptor):
        async def intercept_service(self, continuation, details):
            return await continuation(details)

    return Passthrough()


def _stack(layers: list[str]) -> dict:
    """grpc.aio.server keyword arguments with the named layers of Fulcrum's stack (its defaults);
    a ``KEY=INT`` layer is one more gRPC core option (e.g. ``grpc.http2.bdp_probe=0``)."""
    from online.security.limits import LimitsConfig, server_options
    from online.server.interceptors import ObservedInterceptor

    bad = [x for x in layers if x not in LAYERS and "=" not in x]
    if bad:
        raise typer.BadParameter(
            f"unknown layer(s) {bad}; allowed: {', '.join(LAYERS)} or KEY=INT", param_hint="--kind"
        )
    limits = LimitsConfig()
    kw: dict = {"options": server_options(limits) if "options" in layers else []}
    kw["options"] += [(k, int(v)) for k, _, v in (x.partition("=") for x in layers if "=" in x)]
    if "interceptor" in layers:
        kw["interceptors"] = [ObservedInterceptor()]
    if "passthrough" in layers:  # gRPC's interceptor pipeline alone: the handler is not wrapped
        kw["interceptors"] = [_passthrough()]
    if "maxrpcs" in layers:
        kw["maximum_concurrent_rpcs"] = limits.max_concurrent_rpcs
    return kw


@app.command("serve-empty")
def serve_empty(
    port: int = typer.Option(..., "--port"),
    kind: str = typer.Option(
        "aio", "--kind", help="aio | aio-uvloop | sync, aio ones with +interceptor, +maxrpcs, +options"
    ),
    reuse_port: bool = typer.Option(False, "--reuse-port"),
    threads: int = typer.Option(16, "--threads", help="sync: the handler thread pool."),
) -> None:
    """A gRPC server whose only method returns an empty reply (until SIGTERM)."""
    import asyncio
    import signal
    from concurrent.futures import ThreadPoolExecutor

    import grpc

    base, *layers = kind.split("+")
    reuse = [("grpc.so_reuseport", int(reuse_port))]
    if base == "sync":
        server = grpc.server(ThreadPoolExecutor(max_workers=threads), options=reuse)
        server.add_generic_rpc_handlers((_empty_handlers(True),))
        server.add_insecure_port(f"127.0.0.1:{port}")
        server.start()
        print("serving", flush=True)
        signal.sigwait({signal.SIGTERM, signal.SIGINT})
        server.stop(0)
        return
    kw = _stack(layers)
    kw["options"] = [*reuse, *kw["options"]]

    async def main() -> None:
        server = grpc.aio.server(**kw)
        server.add_generic_rpc_handlers((_empty_handlers(False),))
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        print("serving", flush=True)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop(0)

    if base == "aio-uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main())
    elif base == "aio":
        asyncio.run(main())
    else:
        raise typer.BadParameter(
            f"unknown kind {kind!r}; allowed: aio, aio-uvloop, sync", param_hint="--kind"
        )


def _start_empty(kind: str, processes: int, workdir: Path) -> tuple[list[subprocess.Popen], str]:
    port = free_port()
    procs = []
    for i in range(processes):
        log = open(workdir / f"empty-{kind}-{i}.log", "w")  # noqa: SIM115 - lives as long as the server
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.grpc_floor",
            "serve-empty",
            "--port",
            str(port),
            "--kind",
            kind,
        ]
        if processes > 1:
            cmd.append("--reuse-port")
        env = child_environment(PYTHONPATH=str(ROOT))
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
    deadline = time.monotonic() + 60
    for i, p in enumerate(procs):
        while "serving" not in (workdir / f"empty-{kind}-{i}.log").read_text():
            if p.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"empty server {kind} #{i} did not start; see {workdir}")
            time.sleep(0.1)
    return procs, f"127.0.0.1:{port}"


# ---------------------------------------------------------------------------------------------
# measuring


def health_protoset(out: Path) -> Path:
    """The health service's descriptor set for ghz (no proto3 ``optional`` in it, so the
    Python descriptor's own copy serves)."""
    from google.protobuf import descriptor_pb2
    from grpc_health.v1 import health_pb2

    fds = descriptor_pb2.FileDescriptorSet()
    health_pb2.DESCRIPTOR.CopyToProto(fds.file.add())
    out.write_bytes(fds.SerializeToString())
    return out


def _row(
    layer: str,
    call: str,
    pids: list[int],
    protoset,
    target,
    method,
    data,
    work,
    c,
    seconds,
    conns,
    n_procs: int,
    ghz_extra: list[str],
) -> dict:
    load0 = os.getloadavg()[0]
    cpu0 = sum(tree_cpu_s(p) for p in pids)
    r = ghz(
        protoset,
        target,
        method,
        data,
        work,
        concurrency=c,
        seconds=seconds,
        connections=conns,
        extra=ghz_extra,
    )
    cpu = sum(tree_cpu_s(p) for p in pids) - cpu0
    calls = max(r["calls"], 1)
    row = {
        "layer": layer,
        "call": call,
        "procs": n_procs,
        "c": c,
        "connections": min(conns, c),
        "qps": r["qps"],
        "p50_ms": r["p50_ms"],
        "p99_ms": r["p99_ms"],
        "calls": r["calls"],
        "failed": r["failed"],
        "server_cpu_ms": cpu / calls * 1000.0,
        "ghz_cpu_ms": r["client_cpu_s"] / calls * 1000.0,
        "load_before": load0,
        "load_after": os.getloadavg()[0],
    }
    print(_fmt(row), flush=True)
    return row


HEAD = (
    "| layer | call | procs | c | conns | QPS | p50 ms | p99 ms | failed | server CPU ms/call | "
    "ghz CPU ms/call | 2-core ceiling QPS | load before/after |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def _ceiling(row: dict, cores: int = 2) -> float:
    return cores * 1000.0 / max(row["server_cpu_ms"] + row["ghz_cpu_ms"], 1e-9)


def _fmt(r: dict) -> str:
    return (
        f"| {r['layer']} | {r['call']} | {r['procs']} | {r['c']} | {r['connections']} | {r['qps']:.0f} | "
        f"{r['p50_ms']:.2f} | {r['p99_ms']:.1f} | {r['failed']} | {r['server_cpu_ms']:.3f} | "
        f"{r['ghz_cpu_ms']:.3f} | {_ceiling(r):.0f} | {r['load_before']:.2f} / {r['load_after']:.2f} |"
    )


@app.command("run")
def run(
    bundle: Path = typer.Option(Path("artifacts/bundles/LATEST"), "--bundle"),  # noqa: B008
    feature_repo: Path = typer.Option(..., "--feature-repo", help="An applied Feast repo (SQLite)."),  # noqa: B008
    redis_url: str | None = typer.Option(None, "--redis-url", help="Also Redis (rows materialised)."),
    seconds: float = typer.Option(5.0, "--seconds", min=1.0, help="Seconds per row."),
    levels: str = typer.Option("1,32", "--levels"),
    kinds: str = typer.Option(
        "aio",
        "--kinds",
        help="Empty servers (comma list): aio, aio-uvloop, sync; aio+interceptor+maxrpcs+options adds those "
        "layers of Fulcrum's stack (+passthrough: an interceptor that only hands the call on), aio+KEY=INT a "
        "gRPC core option.",
    ),
    processes: str = typer.Option("1,2", "--processes", help="Process counts for every server."),
    connections: int = typer.Option(8, "--connections", help="ghz connections with 2+ processes."),
    fulcrum: bool = typer.Option(True, "--fulcrum/--no-fulcrum", help="Also `fulcrum serve` rows."),
    setting: list[str] = typer.Option([], "--set", help="fulcrum serve config KEY=JSON (repeatable)."),  # noqa: B008
    python_path: Path | None = typer.Option(None, "--python-path", help="Serve Fulcrum from this tree."),  # noqa: B008
    users: int = typer.Option(200, "--users", min=1),
    ghz_cpus: int = typer.Option(
        0, "--ghz-cpus", min=0, help="ghz --cpus (its Go threads; 0: ghz's default, all cores)."
    ),
    out: Path | None = typer.Option(None, "--out"),  # noqa: B008
) -> None:
    """The per-call CPU of each layer (empty Python gRPC server, Fulcrum's stack, warm Recommend)
    with ghz on this machine, and the 2-core QPS ceiling each implies."""
    if ghz_load.ghz_path() is None:
        raise typer.BadParameter("ghz is not on PATH (go install github.com/bojand/ghz/cmd/ghz@latest)")
    cs = [int(x) for x in levels.split(",")]
    procs_list = [int(x) for x in processes.split(",")]
    extra = {k: json.loads(v) for k, _, v in (x.partition("=") for x in setting)}
    gx = ["--cpus", str(ghz_cpus)] if ghz_cpus else []
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        protoset = ghz_load.build_protoset(work / "recommender.protoset")
        hset = health_protoset(work / "health.protoset")

        def measure(layer, call, pids, ps, target, method, data, n_procs):
            conns = 1 if n_procs == 1 else connections
            ghz(ps, target, method, data, work, concurrency=4, n=400, connections=min(conns, 4))  # warm-up
            for c in cs:
                row = _row(layer, call, pids, ps, target, method, data, work, c, seconds, conns, n_procs, gx)
                rows.append(row)

        print(HEAD, flush=True)
        for kind in [k for k in kinds.split(",") if k]:
            for n in procs_list:
                procs, target = _start_empty(kind, n, work)
                try:
                    measure(
                        f"empty {kind}",
                        "GetModelInfo",
                        [p.pid for p in procs],
                        protoset,
                        target,
                        MODEL_INFO,
                        [{}],
                        n,
                    )
                finally:
                    for p in procs:
                        stop_server(p)
        if fulcrum:
            stores = [("sqlite", feature_repo.resolve(), None)]
            if redis_url:
                stores.append(("redis", feature_repo.resolve(), redis_url))
            for store, repo, url in stores:
                ids = warm_user_ids(repo, store, url, bundle.resolve(), users, 0)
                warm = [{"user_id": u, "k": 10} for u in ids]
                for n in procs_list:
                    proc, target = start_server(
                        bundle.resolve(),
                        work,
                        f"fulcrum-{store}-{n}",
                        repo,
                        store,
                        url,
                        n,
                        python_path,
                        extra=extra,
                    )
                    try:
                        pids = [proc.pid]
                        if store == "sqlite":  # the stack's cost does not depend on the store
                            measure("fulcrum", "GetModelInfo", pids, protoset, target, MODEL_INFO, [{}], n)
                            measure("fulcrum", "health Check", pids, hset, target, HEALTH, [{}], n)
                        measure(
                            f"fulcrum {store}", "Recommend warm", pids, protoset, target, RECOMMEND, warm, n
                        )
                    finally:
                        stop_server(proc)
    summary(rows)
    if out is not None:
        meta = {"seconds": seconds, "config": extra, "ghz_cpus": ghz_cpus or "default"}
        out.write_text(json.dumps({**meta, "rows": rows}, indent=2))


def summary(rows: list[dict], goal_qps: float = 1500.0, cores: int = 2) -> None:
    """What 1,500 calls/s at the top concurrency would need, against each layer's cost."""
    budget = cores * 1000.0 / goal_qps
    top = max(r["c"] for r in rows) if rows else 0
    print(f"\nbudget at {goal_qps:.0f} calls/s on {cores} cores: {budget:.3f} ms CPU per call (server + ghz)")
    for r in rows:
        if r["c"] != top:
            continue
        need = budget - r["ghz_cpu_ms"]
        print(
            f"{r['layer']:>16} {r['call']:<15} x{r['procs']}: server {r['server_cpu_ms']:.3f} ms + ghz "
            f"{r['ghz_cpu_ms']:.3f} ms -> ceiling {_ceiling(r, cores):.0f} QPS (measured {r['qps']:.0f}); "
            f"server may spend {need:.3f} ms, is {r['server_cpu_ms'] / max(need, 1e-9):.2f}x that"
        )


if __name__ == "__main__":
    app()
