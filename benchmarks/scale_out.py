"""Scale-out on one machine, measured and rerunnable: `python -m benchmarks.scale_out COMMAND`.

- ``serve``: Recommend throughput (ghz, warm users) of one server process against two (``workers:
  2``, SO_REUSEPORT: the kernel spreads ghz's connections over them), same store, same users.
- ``restart``: two independent `fulcrum serve` processes on one port (``reuse_port: true``) under
  ghz load at a fixed rate; each is restarted in turn (SIGTERM: health NOT_SERVING, drain within
  the grace period; the new process is started first and must be SERVING before the old one is
  stopped). Reports ghz's failed calls (the bar: 0).
- ``soak``: one server (``--workers``) at ``--rps`` (70 % of the capacity ``serve`` measured) for
  ``--minutes``, the server processes' RSS sampled every ``--every`` seconds: growth from the
  first sample after the warm-up to the end (bar < 10 %).
- ``ingest``: events/s of 1 and of 2 `fulcrum ingest` consumers in one group on a topic with
  ``--partitions`` partitions (real broker: deploy/kafka/kafka.sh on loopback unless
  ``--bootstrap``), Feast online store ``--store``; each run drains the same ``--events`` events
  from a fresh topic and group, from start of the consumers to the group's committed offsets
  reaching the end of every partition.

Every figure is printed with the 1-minute load average. Details and measured figures:
docs/scaling.md ("Measured on one machine").
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import typer

from benchmarks import ghz_load
from benchmarks.proc_stats import tree_rss_mb
from benchmarks.real_path import (
    RECOMMEND,
    free_port,
    ghz,
    measure,
    start_server,
    stop_server,
    warm_user_ids,
)
from benchmarks.scale_ingest import ingest

app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])
BUNDLE = Path("artifacts/bundles/LATEST")


def _load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _setup(bundle: Path, repo: Path, store: str, redis_url: str | None, users: int, work: Path):
    protoset = ghz_load.build_protoset(work / "recommender.protoset")
    ids = warm_user_ids(repo.resolve(), store, redis_url, bundle.resolve(), users, 0)
    return protoset, [{"user_id": u, "k": 10} for u in ids]


@app.command()
def serve(
    feature_repo: Path = typer.Option(..., "--feature-repo"),  # noqa: B008
    store: str = typer.Option("redis", "--store"),
    redis_url: str | None = typer.Option(None, "--redis-url"),
    bundle: Path = typer.Option(BUNDLE, "--bundle"),  # noqa: B008
    concurrency: int = typer.Option(32, "--concurrency"),
    connections: int = typer.Option(8, "--connections"),
    seconds: float = typer.Option(10.0, "--seconds"),
    event_loop: str = typer.Option("uvloop", "--event-loop"),
    out: Path | None = typer.Option(None, "--out"),  # noqa: B008
) -> None:
    """One server process vs two (workers: 2), ghz warm Recommend."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        protoset, warm = _setup(bundle, feature_repo, store, redis_url, 200, work)
        for workers in (1, 2):
            proc, target = start_server(
                bundle.resolve(),
                work,
                f"w{workers}",
                feature_repo.resolve(),
                store,
                redis_url,
                workers,
                port=free_port(),
                extra={"event_loop": event_loop},
            )
            try:
                ghz(protoset, target, RECOMMEND, warm, work, concurrency=8, n=800, connections=connections)
                row = measure(
                    proc,
                    protoset,
                    target,
                    RECOMMEND,
                    warm,
                    work,
                    concurrency=concurrency,
                    seconds=seconds,
                    connections=connections,
                )
            finally:
                stop_server(proc)
            rows.append({"processes": workers, **row})
            print(
                f"{workers} process(es): {row['qps']:.0f} QPS, p50 {row['p50_ms']:.1f} ms, p99 "
                f"{row['p99_ms']:.1f} ms, failed {row['failed']}, "
                f"server CPU {row['server_cpu_ms_per_call']:.2f} ms/call, "
                f"ghz CPU {row['client_cpu_ms_per_call']:.2f} ms/call; {_load()}",
                flush=True,
            )
    print(f"two / one process: {rows[1]['qps'] / rows[0]['qps']:.2f}x")
    if out:
        out.write_text(json.dumps(rows, indent=2))


def _ghz_thread(protoset, target, warm, work, concurrency, seconds, rps, connections):
    """(a not yet started thread running ghz against Recommend, the dict its result lands in)."""
    result: dict = {}

    def run() -> None:
        result.update(
            ghz(protoset, target, RECOMMEND, warm, work, concurrency=concurrency, seconds=seconds,
                rps=rps, connections=connections)
        )

    return threading.Thread(target=run), result


def _restart_one(name: str, old: subprocess.Popen, bundle, work, repo, store, redis_url, port, extra, log):
    """Start the replacement on the shared port, wait until it serves, then drain the old one."""
    new, _ = start_server(bundle, work, name, repo, store, redis_url, 1, port=port, extra=extra)
    log(f"{name}: replacement pid {new.pid} SERVING; SIGTERM to pid {old.pid}")
    t = time.monotonic()
    old.send_signal(signal.SIGTERM)
    code = old.wait(120)
    log(f"{name}: old process drained and exited {code} in {time.monotonic() - t:.1f} s")
    return new


@app.command()
def restart(
    feature_repo: Path = typer.Option(..., "--feature-repo"),  # noqa: B008
    store: str = typer.Option("redis", "--store"),
    redis_url: str | None = typer.Option(None, "--redis-url"),
    bundle: Path = typer.Option(BUNDLE, "--bundle"),  # noqa: B008
    rps: int = typer.Option(200, "--rps", help="ghz rate during the restarts."),
    seconds: float = typer.Option(60.0, "--seconds"),
    grace_s: float = typer.Option(5.0, "--grace-s"),
    out: Path | None = typer.Option(None, "--out"),  # noqa: B008
) -> None:
    """Rolling restart of two servers sharing a port under ghz load: failed calls must be 0."""
    bundle, repo = bundle.resolve(), feature_repo.resolve()
    extra = {"reuse_port": True, "grace_s": grace_s, "event_loop": "uvloop"}
    events: list[str] = []

    def log(msg: str) -> None:
        events.append(f"{time.strftime('%H:%M:%S')} {msg}")
        print(events[-1], flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        protoset, warm = _setup(bundle, repo, store, redis_url, 200, work)
        port = free_port()
        servers = {}
        for name in ("a", "b"):
            servers[name], target = start_server(
                bundle, work, name, repo, store, redis_url, 1, port=port, extra=extra
            )
        log(f"two servers on {target}: pids {[p.pid for p in servers.values()]}")
        load, result = _ghz_thread(protoset, target, warm, work, 16, seconds, rps, 8)
        load.start()
        try:
            time.sleep(seconds * 0.15)
            for name in ("a", "b"):
                servers[name] = _restart_one(
                    f"{name}2", servers[name], bundle, work, repo, store, redis_url, port, extra, log
                )
                time.sleep(seconds * 0.1)
            load.join()
        finally:
            for p in servers.values():
                stop_server(p)
    log(
        f"ghz: {result.get('calls')} calls, {result.get('ok')} OK, {result.get('failed')} failed "
        f"{result.get('errors') or ''}, {result.get('qps', 0):.0f} QPS, "
        f"p50 {result.get('p50_ms', 0):.1f} ms, "
        f"p99 {result.get('p99_ms', 0):.1f} ms; {_load()}"
    )
    if out:
        out.write_text(json.dumps({"ghz": result, "events": events}, indent=2))
    if result.get("failed"):
        raise typer.Exit(1)


@app.command()
def soak(
    feature_repo: Path = typer.Option(..., "--feature-repo"),  # noqa: B008
    rps: int = typer.Option(..., "--rps", help="70 % of the capacity `serve` measured."),
    store: str = typer.Option("redis", "--store"),
    redis_url: str | None = typer.Option(None, "--redis-url"),
    bundle: Path = typer.Option(BUNDLE, "--bundle"),  # noqa: B008
    workers: int = typer.Option(2, "--workers"),
    minutes: float = typer.Option(10.0, "--minutes"),
    warm_up_s: float = typer.Option(30.0, "--warm-up-s"),
    every: float = typer.Option(10.0, "--every"),
    out: Path | None = typer.Option(None, "--out"),  # noqa: B008
) -> None:
    """A fixed rate for ``--minutes``: RSS of the server processes over time (growth < 10 %)."""
    samples: list[tuple[float, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        protoset, warm = _setup(bundle, feature_repo, store, redis_url, 200, work)
        proc, target = start_server(
            bundle.resolve(),
            work,
            "soak",
            feature_repo.resolve(),
            store,
            redis_url,
            workers,
            port=free_port(),
            extra={"event_loop": "uvloop"},
        )
        total = minutes * 60 + warm_up_s
        load, result = _ghz_thread(protoset, target, warm, work, 32, total, rps, 4 * workers)
        started = time.monotonic()
        load.start()
        try:
            while load.is_alive():
                t = time.monotonic() - started
                samples.append((t, tree_rss_mb(proc.pid), os.getloadavg()[0]))
                print(f"t={t:6.0f} s  RSS {samples[-1][1]:7.1f} MiB  load {samples[-1][2]:.2f}", flush=True)
                load.join(every)
        finally:
            stop_server(proc)
    after_warm = [s for s in samples if s[0] >= warm_up_s]
    first, last = after_warm[0][1], after_warm[-1][1]
    peak = max(s[1] for s in after_warm)
    growth = (last - first) / first * 100
    print(
        f"ghz: {result.get('calls')} calls, {result.get('failed')} failed, {result.get('qps', 0):.0f} QPS, "
        f"p50 {result.get('p50_ms', 0):.1f} ms, p99 {result.get('p99_ms', 0):.1f} ms"
    )
    print(
        f"RSS after warm-up {first:.1f} MiB -> end {last:.1f} MiB (peak {peak:.1f}): growth {growth:+.1f} %; "
        f"{_load()}"
    )
    if out:
        out.write_text(json.dumps({"ghz": result, "rss": samples, "growth_pct": growth}, indent=2))


app.command("ingest")(ingest)


if __name__ == "__main__":
    app()
