"""Serving benchmark: `fulcrum bench serve --bundle DIR` (or `python -m benchmarks.bench_serve`).

Starts the real gRPC server in-process on loopback with the bundle and an in-memory feature
store of synthetic warm users (histories drawn from the catalogue), then measures in one run:

- bare ONNX Runtime forward time of exactly what one Recommend runs (user encoder on the user's
  history + ranker on its candidates' features), and of what one Search runs (item encoder on
  the query), called directly on the sessions, no gRPC, no batching;
- Recommend and Search p50 / p99 at concurrency 1 (sequential calls through a gRPC channel);
- Recommend QPS at concurrency 1 and 64.

Ratios: Recommend p50 / bare forward p50 (bar <= 1.2) and QPS(64) / QPS(1) (bar >= 3).
Prints a table and writes JSON. Client and server share the process (and its cores).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import typer

DEFAULT_BUNDLE = Path("artifacts/bundles/LATEST")
DEFAULT_OUT = Path("artifacts/bench/serve.json")
QUERIES = (
    "red heart",
    "lunch bag",
    "party cake cases",
    "wooden garden sign",
    "tea light holder",
    "vintage paisley",
    "christmas",
    "glass candle",
)


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q)) if xs else float("nan")


def _users(catalogue, n_users: int, hist: int, seed: int):
    from fulcrum.core.profile import UserProfile

    rng = np.random.default_rng(seed)
    now = time.time()
    users = []
    for u in range(n_users):
        rows = rng.choice(len(catalogue), size=min(hist, len(catalogue)), replace=False)
        items = tuple(str(catalogue.item_ids[r]) for r in rows)
        users.append(
            UserProfile(
                user_id=f"bench-{u}",
                recent_items=items,
                recent_types=("PURCHASE",) * len(items),
                recent_times=tuple(now - 86_400.0 * (len(items) - i) for i in range(len(items))),
                purchase_count=float(len(items)),
                distinct_items=float(len(items)),
                last_active=now,
                bought=frozenset(items[: len(items) // 2]),
            )
        )
    return users


def _bare_forward(model, profile, config, repeats: int) -> tuple[list[float], list[float]]:
    """Per-call seconds of the ORT work one Recommend / one Search does, on the same inputs."""
    from fulcrum.core.rank_features import rank_features
    from online.inference.retrieval import top_candidates
    from online.server.profiles import history_for

    bundle = model.bundle
    cat = model.catalogue.current
    now = time.time()
    hist = history_for(profile, cat, now, bundle.user_encoder.history_length)
    user_feeds = bundle.user_encoder.feeds([hist])
    user_vec = bundle.user_encoder([hist])[0]
    sims = cat.embeddings @ user_vec
    cand = top_candidates(sims, config.retrieval_candidates)
    rank_feeds = {"features": rank_features(profile, cat.item_stats(cand), sims[cand], now)}
    text_feeds = bundle.text_encoder.tokenize([QUERIES[0]])
    rec, srch = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        bundle.user_encoder.model.run(user_feeds)
        bundle.ranker.model.run(rank_feeds)
        rec.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        bundle.text_encoder.model.run(text_feeds)
        srch.append(time.perf_counter() - t0)
    return rec, srch


async def _run(bundle: Path, n: int, high: int, n_users: int, seed: int, provider: str) -> dict:
    import grpc

    from fulcrum.v1 import recommender_pb2 as pb
    from fulcrum.v1 import recommender_pb2_grpc
    from online.config import build_config
    from online.server.app import create_server
    from online.server.feature_source import InMemoryFeatures

    config = build_config({"host": "127.0.0.1", "port": 0, "metrics_port": 0, "execution_provider": provider})
    features = InMemoryFeatures()
    server, port = await create_server(config, bundle, features)
    await server.start()
    model = server.holder.current
    users = _users(model.catalogue.current, n_users, 20, seed)
    for u in users:
        features.put(u)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = recommender_pb2_grpc.RecommenderStub(channel)

            def rec_req(i: int):
                return pb.RecommendRequest(user_id=users[i % len(users)].user_id, k=10)

            def search_req(i: int):
                return pb.SearchRequest(query=QUERIES[i % len(QUERIES)], k=10)

            for i in range(30):  # warm up both paths and the channel
                await stub.Recommend(rec_req(i))
                await stub.Search(search_req(i))

            async def sequential(call, make) -> list[float]:
                out = []
                for i in range(n):
                    t0 = time.perf_counter()
                    await call(make(i))
                    out.append(time.perf_counter() - t0)
                return out

            rec_lat = await sequential(stub.Recommend, rec_req)
            search_lat = await sequential(stub.Search, search_req)

            async def qps(concurrency: int, total: int) -> float:
                counter = iter(range(total))

                async def worker():
                    for i in counter:
                        await stub.Recommend(rec_req(i))

                t0 = time.perf_counter()
                await asyncio.gather(*(worker() for _ in range(concurrency)))
                return total / (time.perf_counter() - t0)

            qps1 = await qps(1, n)
            qps_high = await qps(high, max(n, high * 8))
        bare_rec, bare_search = _bare_forward(model, users[0], config, n)
    finally:
        await server.stop(0)
    from online.server import metrics

    batch = metrics.BATCH_SIZE.collect()[0].samples
    sums = {s.labels["model"]: s.value for s in batch if s.name.endswith("_sum")}
    counts = {s.labels["model"]: s.value for s in batch if s.name.endswith("_count")}
    mean_batch = {m: sums[m] / counts[m] for m in counts if counts[m]}
    ms = 1000.0
    result = {
        "bundle": str(bundle),
        "bundle_version": model.version,
        "execution_provider": model.bundle.provider,
        "catalogue_size": len(model.catalogue.current),
        "requests_per_measurement": n,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "bare_forward_recommend_ms": {"p50": _pct(bare_rec, 50) * ms, "p99": _pct(bare_rec, 99) * ms},
        "bare_forward_search_ms": {"p50": _pct(bare_search, 50) * ms, "p99": _pct(bare_search, 99) * ms},
        "recommend_ms": {
            "p50": _pct(rec_lat, 50) * ms,
            "p99": _pct(rec_lat, 99) * ms,
            "mean": statistics.fmean(rec_lat) * ms,
        },
        "search_ms": {
            "p50": _pct(search_lat, 50) * ms,
            "p99": _pct(search_lat, 99) * ms,
            "mean": statistics.fmean(search_lat) * ms,
        },
        "qps": {"1": qps1, str(high): qps_high},
        "mean_batch_size": mean_batch,
    }
    result["ratios"] = {
        "recommend_p50_over_bare_forward_p50": result["recommend_ms"]["p50"]
        / result["bare_forward_recommend_ms"]["p50"],
        "search_p50_over_bare_forward_p50": result["search_ms"]["p50"]
        / result["bare_forward_search_ms"]["p50"],
        f"qps_{high}_over_qps_1": qps_high / qps1,
    }
    result["bars"] = {
        "recommend_p50_over_bare_forward_p50 <= 1.2": result["ratios"]["recommend_p50_over_bare_forward_p50"]
        <= 1.2,
        f"qps_{high}_over_qps_1 >= 3": result["ratios"][f"qps_{high}_over_qps_1"] >= 3.0,
    }
    return result


def print_table(r: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(
        title=f"fulcrum bench serve — bundle {r['bundle_version']} ({r['execution_provider']}, "
        f"{r['catalogue_size']} items, {r['machine']['cpus']} cpus)"
    )
    t.add_column("measure")
    t.add_column("p50 ms", justify="right")
    t.add_column("p99 ms", justify="right")
    for name, key in (
        ("bare ORT forward (Recommend inputs)", "bare_forward_recommend_ms"),
        ("Recommend, concurrency 1", "recommend_ms"),
        ("bare ORT forward (Search inputs)", "bare_forward_search_ms"),
        ("Search, concurrency 1", "search_ms"),
    ):
        t.add_row(name, f"{r[key]['p50']:.3f}", f"{r[key]['p99']:.3f}")
    Console().print(t)
    q = Table(title="throughput and ratios")
    q.add_column("measure")
    q.add_column("value", justify="right")
    q.add_column("bar")
    for c, v in r["qps"].items():
        q.add_row(f"Recommend QPS at concurrency {c}", f"{v:.1f}", "")
    for name, v in r["ratios"].items():
        bar = next(
            (
                ("met" if ok else "MISSED") + f" ({b.split(' ', 1)[1]})"
                for b, ok in r["bars"].items()
                if b.startswith(name)
            ),
            "",
        )
        q.add_row(name, f"{v:.2f}", bar)
    q.add_row("mean batch size", ", ".join(f"{m} {v:.1f}" for m, v in r["mean_batch_size"].items()), "")
    Console().print(q)


def bench_serve(
    bundle: Path = typer.Option(DEFAULT_BUNDLE, "--bundle", help="Bundle folder."),  # noqa: B008
    requests: int = typer.Option(400, "--requests", min=20, help="Calls per latency measurement."),
    concurrency: int = typer.Option(64, "--concurrency", min=2, help="High concurrency for the QPS ratio."),
    users: int = typer.Option(200, "--users", min=1, help="Synthetic warm users in the feature store."),
    provider: str = typer.Option("auto", "--provider", help="auto | cpu | cuda"),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="JSON output file."),  # noqa: B008
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Serving latency and throughput against bare ONNX Runtime, with the real server."""
    if not (bundle / "manifest.json").is_file():
        raise typer.BadParameter(
            f"{bundle} has no manifest.json (train and export a bundle first)", param_hint="--bundle"
        )
    result = asyncio.run(_run(bundle, requests, concurrency, users, seed, provider))
    print_table(result)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    typer.echo(f"wrote {out}")


if __name__ == "__main__":
    typer.run(bench_serve)
