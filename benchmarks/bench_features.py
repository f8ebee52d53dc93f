"""Feature store benchmark: `fulcrum bench features` (or `python -m benchmarks.bench_features`).

Builds a private copy of feature_repo/ (never the real data/ folder) from the prepared events
(``--data``, default artifacts/data; a synthetic set when it is missing), applies and materialises
it for SQLite and for Redis (a redis-server started on a free loopback port unless ``--redis-url``
is given) - the online rows are written with ``materialize_latest`` (each entity's newest row, the
same bytes Feast's materialise writes, without its slow dask pass) - then measures on each store:

- ``OnlineFeatureClient.get_user_profile`` for 1 random known user (worker thread + deadline +
  decoding into a UserProfile), and the bare ``FeatureStore.get_online_features`` under it;
- ``OnlineFeatureClient.get_item_stats`` for 100 random items, and the bare Feast call; and with
  the client's 1 s item cache (random candidates over the whole catalogue: a pessimistic hit rate);
- ``FeastEventSink.apply`` throughput on batches of purchase events (events/s).

Prints median and p99 per store as a table, with the client / bare-Feast ratio, and writes JSON.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import typer

from fulcrum.core.percentiles import percentile
from fulcrum.core.ports import free_port

DEFAULT_DATA = Path("artifacts/data")
DEFAULT_OUT = Path("artifacts/bench/features.json")
_ROOT = Path(__file__).resolve().parents[1]


def _pct(xs: list[float], q: float) -> float:
    return percentile(xs, q)


def _timed(fn, calls: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000.0)
    return out


def _start_redis(workdir: Path) -> tuple[subprocess.Popen, str]:
    import socket

    server = shutil.which("redis-server")
    if server is None:
        raise typer.BadParameter(
            "redis-server is not installed (make redis), or pass --redis-url", param_hint="--redis-url"
        )
    port = free_port()
    proc = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"redis://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"redis-server did not open port {port} within 20 s")


def _load_events(data: Path):
    import pandas as pd

    from fulcrum.core import schema as S

    if (data / S.EVENTS_FILE).is_file():
        events = pd.read_parquet(data / S.EVENTS_FILE)
        items = pd.read_parquet(data / S.ITEMS_FILE) if (data / S.ITEMS_FILE).is_file() else None
        return events, items, str(data)
    rng = np.random.default_rng(0)
    n = 50_000
    events = pd.DataFrame(
        {
            S.EVENT_ID: [f"e{i}" for i in range(n)],
            S.USER_ID: [f"u{k}" for k in rng.integers(0, 2_000, n)],
            S.ITEM_ID: [f"i{k}" for k in rng.integers(0, 3_000, n)],
            S.EVENT_TYPE: rng.choice(["PURCHASE", "PURCHASE", "CANCEL", "CLICK", "IMPRESSION"], n),
            S.QUANTITY: 1.0,
            S.PRICE: rng.integers(1, 50, n) / 4.0,
            S.TIMESTAMP: pd.to_datetime(1_300_000_000 + rng.integers(0, 300 * 86_400, n), unit="s", utc=True),
            S.SESSION_ID: "s",
            S.SPLIT: "train",
        }
    )
    return events, None, "synthetic (50,000 events)"


def _sink_throughput(client, users: list[str], items: list[str], batch: int, batches: int, seed: int) -> dict:
    from fulcrum.core.events import Event
    from fulcrum.core.schema import EventType
    from online.features.sink import FeastEventSink

    rng = np.random.default_rng(seed)
    sink = FeastEventSink(client.store)
    base_ms = int(time.time() * 1000)
    times, n = [], 0
    for b in range(batches):
        evs = [
            Event(
                f"bench-{b}-{i}",
                EventType.PURCHASE,
                users[rng.integers(len(users))],
                items[rng.integers(len(items))],
                1.0,
                2.5,
                base_ms + b * 1000 + i,
            )
            for i in range(batch)
        ]
        t = time.perf_counter()
        sink.apply(evs)
        times.append(time.perf_counter() - t)
        n += len(evs)
    return {
        "batch": batch,
        "batches": batches,
        "events_per_s": n / sum(times),
        "batch_ms_median": _pct([x * 1000 for x in times], 50),
    }


def _measure_reads(fs, client, user_ids, item_ids, calls: int, n_items: int, rng) -> dict[str, list[float]]:
    """Latencies (ms) of the client and of the bare Feast call, for 1 user and for n_items items."""
    from fulcrum.core import feature_names as fn
    from online.features.client import OnlineFeatureClient

    svc_user = fs.get_feature_service(fn.RECOMMEND_USER_SERVICE)
    svc_items = fs.get_feature_service(fn.RECOMMEND_ITEMS_SERVICE)

    def pick_user() -> str:
        return user_ids[rng.integers(len(user_ids))]

    def pick_items() -> list[str]:
        return [item_ids[i] for i in rng.choice(len(item_ids), n_items, replace=False)]

    cached = OnlineFeatureClient(fs, default_timeout_s=5.0, item_cache_ttl_s=1.0)
    try:
        return {
            "user_client_ms": _timed(lambda: client.get_user_profile(pick_user()), calls),
            "user_feast_ms": _timed(
                lambda: fs.get_online_features(svc_user, {fn.USER_KEY: [pick_user()]}).to_dict(), calls
            ),
            "items_client_ms": _timed(lambda: client.get_item_stats(pick_items()), calls),
            "items_feast_ms": _timed(
                lambda: fs.get_online_features(svc_items, {fn.ITEM_KEY: pick_items()}).to_dict(), calls
            ),
            "items_cached_ms": _timed(lambda: cached.get_item_stats(pick_items()), calls),
        }
    finally:
        cached.close()


def bench_features(
    data: Path = typer.Option(DEFAULT_DATA, help="Prepared data folder (synthetic events when missing)."),  # noqa: B008
    calls: int = typer.Option(2000, help="Timed calls per measurement."),
    items_per_call: int = typer.Option(100, help="Items per get_item_stats call."),
    stores: str = typer.Option("sqlite,redis", help="Comma-separated stores to measure."),
    redis_url: str | None = typer.Option(None, help="Use this Redis instead of starting one."),
    sink_batch: int = typer.Option(1000, help="Events per FeastEventSink.apply batch."),
    sink_batches: int = typer.Option(10, help="Batches for the sink throughput figure."),
    out: Path = typer.Option(DEFAULT_OUT, help="JSON output."),  # noqa: B008
    seed: int = typer.Option(0),
) -> None:
    """Online read latency (1 user, 100 items; median and p99) and sink throughput, SQLite vs Redis."""
    from rich.console import Console
    from rich.table import Table

    from fulcrum.core import feature_names as fn
    from fulcrum.core.feature_store import open_store
    from fulcrum.core.tables import print_table
    from offline.features.batch import item_snapshots, user_snapshots, write_parquet
    from offline.features.repo import apply_repo, materialize_latest
    from online.features.client import OnlineFeatureClient

    console = Console()
    wanted = [s.strip() for s in stores.split(",") if s.strip()]
    bad = [s for s in wanted if s not in ("sqlite", "redis")]
    if bad:
        raise typer.BadParameter(f"unknown store(s) {bad}; allowed: sqlite, redis", param_hint="--stores")
    events, items_table, source = _load_events(data)
    tmp = Path(tempfile.mkdtemp(prefix="bench-features-"))
    redis_proc = None
    results: dict = {
        "source": source,
        "events": len(events),
        "calls": calls,
        "items_per_call": items_per_call,
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
        "stores": {},
    }
    try:
        repo = tmp / "feature_repo"
        shutil.copytree(_ROOT / "feature_repo", repo, ignore=shutil.ignore_patterns("data", "__pycache__"))
        t = time.perf_counter()
        with console.status("computing batch features"):
            users_df = user_snapshots(events)
            items_df = item_snapshots(events, items_table)
            write_parquet(users_df, fn.USER_BEHAVIOUR_VIEW, repo / "data")
            write_parquet(items_df, fn.ITEM_STATS_VIEW, repo / "data")
            import pandas as pd

            from offline.features.batch import item_embedding_rows, user_embeddings_empty

            write_parquet(user_embeddings_empty(), fn.USER_EMBEDDING_VIEW, repo / "data")
            write_parquet(
                item_embedding_rows([], [], None, pd.Timestamp("2000-01-01", tz="UTC")),
                fn.ITEM_EMBEDDING_VIEW,
                repo / "data",
            )
        results["batch_seconds"] = time.perf_counter() - t
        user_ids = sorted(users_df[fn.USER_KEY].unique())
        item_ids = sorted(items_df[fn.ITEM_KEY].unique())
        results["users"], results["items"] = len(user_ids), len(item_ids)
        console.print(
            f"{source}: {len(events):,} events -> {len(user_ids):,} users, {len(item_ids):,} items "
            f"({results['batch_seconds']:.1f} s)"
        )
        rng = np.random.default_rng(seed)
        for kind in wanted:
            url = None
            if kind == "redis":
                if redis_url is None:
                    redis_proc, url = _start_redis(tmp)
                else:
                    url = redis_url
            t = time.perf_counter()
            with console.status(f"{kind}: feast apply + materialize"):
                fs = open_store(repo, kind, url)
                apply_repo(fs, repo)
                materialize_latest(fs, repo)
            load_s = time.perf_counter() - t
            client = OnlineFeatureClient(fs, default_timeout_s=5.0)
            with console.status(f"{kind}: timing reads"):
                r = _measure_reads(fs, client, user_ids, item_ids, calls, items_per_call, rng)
            r["apply_materialize_s"] = load_s
            with console.status(f"{kind}: sink throughput"):
                r["sink"] = _sink_throughput(client, user_ids, item_ids, sink_batch, sink_batches, seed)
            client.close()
            summary = {"apply_materialize_s": round(load_s, 2), "sink": r["sink"]}
            for key in (
                "user_client_ms",
                "user_feast_ms",
                "items_client_ms",
                "items_feast_ms",
                "items_cached_ms",
            ):
                summary[key] = {
                    "p50": _pct(r[key], 50),
                    "p99": _pct(r[key], 99),
                    "mean": float(np.mean(r[key])),
                }
            results["stores"][kind] = summary
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)

    table = Table(title=f"online feature reads ({calls} calls each; {source})")
    for col in (
        "store",
        "read",
        "client p50 ms",
        "client p99 ms",
        "bare Feast p50 ms",
        "bare Feast p99 ms",
        "client/Feast p50",
    ):
        table.add_column(col, justify="right" if "ms" in col or "/" in col else "left")
    for kind, s in results["stores"].items():
        for what, label in (
            ("user_client", "1 user"),
            ("items_client", f"{items_per_call} items"),
            ("items_cached", f"{items_per_call} items, 1 s cache"),
        ):
            c, f = s[f"{what}_ms"], s[f"{what.split('_')[0]}_feast_ms"]
            table.add_row(
                kind,
                label,
                f"{c['p50']:.2f}",
                f"{c['p99']:.2f}",
                f"{f['p50']:.2f}",
                f"{f['p99']:.2f}",
                f"{c['p50'] / f['p50']:.2f}",
            )
    print_table(console, table)
    for kind, s in results["stores"].items():
        console.print(
            f"{kind}: apply + load latest rows {s['apply_materialize_s']:.1f} s; sink "
            f"{s['sink']['events_per_s']:,.0f} events/s (batches of {s['sink']['batch']}, "
            f"median {s['sink']['batch_ms_median']:.0f} ms per batch)"
        )
    if {"sqlite", "redis"} <= set(results["stores"]):
        a, b = results["stores"]["redis"], results["stores"]["sqlite"]
        console.print(
            f"redis/sqlite p50: 1 user {a['user_client_ms']['p50'] / b['user_client_ms']['p50']:.2f}, "
            f"{items_per_call} items {a['items_client_ms']['p50'] / b['items_client_ms']['p50']:.2f}"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    console.print(f"wrote {out}")


if __name__ == "__main__":
    typer.run(bench_features)
