"""Serving benchmark: `fulcrum bench serve --bundle DIR` (or `python -m benchmarks.bench_serve`).

Starts the real gRPC server in-process on loopback with the bundle and an in-memory feature
store of synthetic warm users (histories drawn from the catalogue), then measures in one run:

- latency at concurrency 1, interleaved call by call so load bursts on a shared machine hit every
  measure alike: the bare ONNX Runtime forward of exactly what one Recommend runs (user encoder on
  the user's history, + the ranker on its candidates' features when the config's ranking_mode /
  cancel_risk_weight make Recommend run it) and what one Search runs (item encoder on the query),
  called directly on the sessions; the same Recommend / Search through a gRPC
  channel; GetModelInfo (the gRPC round-trip floor); and the Recommend pipeline called
  in-process without gRPC (where the time between forward and reply goes);
- Recommend QPS at concurrency 1 and 64 from a separate load-generator process
  (benchmarks/serve_load.py), like remote clients, so client work does not share the server's GIL.

Ratios: Recommend p50 / bare forward p50 (bar <= 1.2) and QPS(64) / QPS(1) (bar >= 3).
Prints a table and writes JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import typer

from benchmarks.serve_load import QUERIES
from fulcrum.core.percentiles import percentile

DEFAULT_BUNDLE = Path("artifacts/bundles/LATEST")
DEFAULT_OUT = Path("artifacts/bench/serve.json")


def _pct(xs: list[float], q: float) -> float:
    return percentile(xs, q)


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


def _bare_feeds(model, profile, config) -> tuple[dict, dict | None]:
    """The exact ONNX inputs one Recommend builds for ``profile``: the user encoder's, and the
    ranker's only when the config makes Recommend run the ranking head (``needs_ranker``; the
    default ``ranking_mode: retrieval`` does not), so the baseline is the ONNX work Recommend does."""
    from fulcrum.core.rank_features import rank_features
    from online.inference.retrieval import blocked_mask, top_candidates
    from online.rerank.anti_recommendation import blocked_items
    from online.rerank.ordering import needs_ranker
    from online.server.profiles import history_for

    bundle = model.bundle
    cat = model.catalogue.current
    now = time.time()
    hist = history_for(profile, cat, now, bundle.user_encoder.history_length)
    user_vec = bundle.user_encoder([hist])[0]
    sims = cat.embeddings @ user_vec
    blocked = blocked_mask(len(cat), cat.indices(sorted(blocked_items(profile, False, 3))))
    cand = top_candidates(sims, config.retrieval_candidates, blocked)
    if not needs_ranker(config.ranking_mode, config.cancel_risk_weight):
        return bundle.user_encoder.feeds([hist]), None
    return bundle.user_encoder.feeds([hist]), {
        "features": rank_features(profile, cat.item_stats(cand), sims[cand], now)
    }


async def _latency(server, config, users, port: int, n: int) -> dict[str, list[float]]:
    """Interleaved per-call seconds, so load bursts on a shared machine hit every measure alike:
    bare ORT forward of the same inputs, then the same request through gRPC, then the pipeline
    called in-process; for Recommend, Search and GetModelInfo (the gRPC round-trip floor)."""
    import grpc

    from fulcrum.v1 import recommender_pb2 as pb
    from fulcrum.v1 import recommender_pb2_grpc
    from online.server.recommend import recommend
    from online.server.validation import recommend_query

    servicer = server.servicer
    model = servicer.holder.current
    bundle = model.bundle
    feeds = [_bare_feeds(model, u, config) for u in users]
    query_feeds = [bundle.text_encoder.tokenize([q]) for q in QUERIES]
    out: dict[str, list[float]] = {
        k: [] for k in ("bare_rec", "rec", "bare_search", "search", "info", "pipeline")
    }
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = recommender_pb2_grpc.RecommenderStub(channel)
        for i in range(n + 30):  # the first 30 rounds warm up and are dropped
            u, qi = i % len(users), i % len(QUERIES)
            rec = pb.RecommendRequest(user_id=users[u].user_id, k=10)
            t = [time.perf_counter()]
            bundle.user_encoder.model.run(feeds[u][0])
            if feeds[u][1] is not None:
                bundle.ranker.model.run(feeds[u][1])
            t.append(time.perf_counter())
            await stub.Recommend(rec)
            t.append(time.perf_counter())
            bundle.text_encoder.model.run(query_feeds[qi])
            t.append(time.perf_counter())
            await stub.Search(pb.SearchRequest(query=QUERIES[qi], k=10))
            t.append(time.perf_counter())
            await stub.GetModelInfo(pb.GetModelInfoRequest())
            t.append(time.perf_counter())
            with servicer.in_flight:
                await recommend(
                    model,
                    servicer.features,
                    servicer.feature_executor,
                    config,
                    recommend_query(rec, config),
                    30.0,
                )
            t.append(time.perf_counter())
            if i >= 30:
                for key, a, b in zip(out, t[:-1], t[1:], strict=True):
                    out[key].append(b - a)
    return out


def _batch_totals() -> dict[str, tuple[float, float]]:
    """model -> (requests, batches) so far, from the server's batch-size histogram."""
    from online.server import metrics

    samples = metrics.BATCH_SIZE.collect()[0].samples
    sums = {s.labels["model"]: s.value for s in samples if s.name.endswith("_sum")}
    counts = {s.labels["model"]: s.value for s in samples if s.name.endswith("_count")}
    return {m: (sums[m], counts[m]) for m in counts}


def _cpu_s() -> float:
    """CPU seconds of this process (the server: event loop, ORT and gRPC threads) so far."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def _client(target: str, phase: str, users: list[str], n: int, concurrency: int) -> dict:
    """Run one load phase in a separate Python process (like a remote client) and parse its JSON;
    adds ``server_cpu_ms_per_call``: this process's CPU over the phase per call it served."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.serve_load",
        "--target",
        target,
        "--phase",
        phase,
        "--users",
        ",".join(users),
        "--n",
        str(n),
        "--concurrency",
        str(concurrency),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    cpu0 = _cpu_s()
    out, err = await proc.communicate()
    cpu = _cpu_s() - cpu0
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({phase}): {err.decode()[-2000:]}")
    result = json.loads(out)
    served = result.get("calls", 0) + result.get("warm_up_calls", 0)
    if served:
        result["server_cpu_ms_per_call"] = cpu / served * 1000.0
    return result


async def _run(bundle: Path, n: int, high: int, n_users: int, seed: int, provider: str) -> dict:
    from online.config import build_config
    from online.security.config import LOOPBACK_DEMO
    from online.server.app import create_server
    from online.server.feature_source import InMemoryFeatures

    config = build_config(
        {
            "host": "127.0.0.1",
            "port": 0,
            "metrics_port": 0,
            "execution_provider": provider,
            "security": LOOPBACK_DEMO,
        }
    )
    features = InMemoryFeatures()
    server, port = await create_server(config, bundle, features)
    await server.start()
    model = server.holder.current
    users = _users(model.catalogue.current, n_users, 20, seed)
    for u in users:
        features.put(u)
    target = f"127.0.0.1:{port}"
    ids = [u.user_id for u in users]
    try:
        lat = await _latency(server, config, users, port, n)
        low_run = await _client(target, "qps", ids, n, 1)
        qps1 = low_run["qps"]
        before = _batch_totals()
        high_run = await _client(target, "qps", ids, max(n, high * 8), high)
        after = _batch_totals()
    finally:
        await server.stop(0)
    rec_lat, search_lat, info_lat, pipeline = lat["rec"], lat["search"], lat["info"], lat["pipeline"]
    bare_rec, bare_search = lat["bare_rec"], lat["bare_search"]
    qps_high = high_run["qps"]
    failures = low_run["failures"] + high_run["failures"]
    mean_batch = {  # requests per ORT call during the high-concurrency phase only
        m: (after[m][0] - before.get(m, (0, 0))[0]) / (after[m][1] - before.get(m, (0, 0))[1])
        for m in after
        if after[m][1] > before.get(m, (0, 0))[1]
    }
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
            "load_average_1m_at_end": os.getloadavg()[0],
        },
        "bare_forward_recommend_ms": {"p50": _pct(bare_rec, 50) * ms, "p99": _pct(bare_rec, 99) * ms},
        "bare_forward_search_ms": {"p50": _pct(bare_search, 50) * ms, "p99": _pct(bare_search, 99) * ms},
        "recommend_ms": {
            "p50": _pct(rec_lat, 50) * ms,
            "p99": _pct(rec_lat, 99) * ms,
            "mean": statistics.fmean(rec_lat) * ms,
        },
        "transport_floor_ms": {"p50": _pct(info_lat, 50) * ms, "p99": _pct(info_lat, 99) * ms},
        "recommend_pipeline_no_grpc_ms": {"p50": _pct(pipeline, 50) * ms, "p99": _pct(pipeline, 99) * ms},
        "search_ms": {
            "p50": _pct(search_lat, 50) * ms,
            "p99": _pct(search_lat, 99) * ms,
            "mean": statistics.fmean(search_lat) * ms,
        },
        "qps": {"1": qps1, str(high): qps_high},
        # CPU per Recommend of the server process and of the load generator in each QPS phase:
        # with both on the same cores, QPS(high) <= cpus * 1000 / (server + client ms per call)
        "cpu_ms_per_call": {
            c: {"server": run.get("server_cpu_ms_per_call"), "client": run.get("client_cpu_ms_per_call")}
            for c, run in (("1", low_run), (str(high), high_run))
        },
        "failed_calls": failures,
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


RATIO_LABELS = {
    "recommend_p50_over_bare_forward_p50": "Recommend p50 / bare forward p50",
    "search_p50_over_bare_forward_p50": "Search p50 / bare forward p50",
}


def print_table(r: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from fulcrum.core.tables import print_table

    console = Console(width=110)
    t = Table(
        title=f"fulcrum bench serve: bundle {r['bundle_version']} ({r['execution_provider']}, "
        f"{r['catalogue_size']} items, {r['machine']['cpus']} cpus, "
        f"load average {r['machine'].get('load_average_1m_at_end', float('nan')):.1f})"
    )
    t.add_column("measure", no_wrap=True)
    t.add_column("p50 ms", justify="right")
    t.add_column("p99 ms", justify="right")
    for name, key in (
        ("bare ORT forward (Recommend inputs)", "bare_forward_recommend_ms"),
        ("Recommend, concurrency 1", "recommend_ms"),
        ("bare ORT forward (Search inputs)", "bare_forward_search_ms"),
        ("Search, concurrency 1", "search_ms"),
        ("GetModelInfo (gRPC round-trip floor)", "transport_floor_ms"),
        ("Recommend pipeline in-process, no gRPC", "recommend_pipeline_no_grpc_ms"),
    ):
        t.add_row(name, f"{r[key]['p50']:.3f}", f"{r[key]['p99']:.3f}")
    print_table(console, t)
    q = Table(title="throughput and ratios")
    q.add_column("measure", no_wrap=True)
    q.add_column("value", justify="right", no_wrap=True)
    q.add_column("bar", no_wrap=True)
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
        label = RATIO_LABELS.get(name) or name.replace("qps_", "QPS(").replace("_over_QPS(", ") / QPS(") + ")"
        q.add_row(label, f"{v:.2f}", bar)
    for c, cpu in r.get("cpu_ms_per_call", {}).items():
        if cpu.get("server") is not None and cpu.get("client") is not None:
            q.add_row(
                f"CPU ms per call at concurrency {c}: server / load generator",
                f"{cpu['server']:.3f} / {cpu['client']:.3f}",
                "",
            )
    q.add_row("failed calls", str(r["failed_calls"]), "")
    for m, v in r["mean_batch_size"].items():
        q.add_row(f"mean batch size at concurrency {max(int(c) for c in r['qps'])}: {m}", f"{v:.1f}", "")
    print_table(console, q)


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
