"""Serving benchmark: `fulcrum bench serve --bundle DIR --feature-repo REPO` (or `python -m
benchmarks.bench_serve`).

Starts the real gRPC server in-process on loopback with the bundle and the path users run: the
configured Feast online store (``--feature-repo``, ``--store sqlite|redis``) and warm users drawn
from the data the store holds (the repo's ``user_behaviour`` table, each checked to have a row).
Without ``--feature-repo`` it falls back to an in-memory store of synthetic users and SAYS so in
the table and the JSON (``features: in-memory``): that is not what `fulcrum serve` with a
feature_repo runs. Then, in one run:

- latency at concurrency 1, interleaved call by call so load bursts on a shared machine hit every
  measure alike: the bare ONNX Runtime forward of exactly what one Recommend runs (user encoder on
  the user's history, + the ranker when the config makes Recommend run it) and what one Search
  runs (item encoder on the query), called directly on the sessions; the same Recommend / Search
  through a gRPC channel; GetModelInfo (the gRPC round-trip floor); and the Recommend pipeline
  called in-process without gRPC (where the time between forward and reply goes);
- Recommend throughput at each ``--concurrency`` level (default 1, 8, 32, 64): QPS, p50, p99 and
  the server's CPU per call, from a separate Python load-generator process
  (benchmarks/serve_load.py, its own CPU per call reported too) and, when ``ghz`` is on PATH, from
  ghz (benchmarks/ghz_load.py; protoset compiled by the bench; its CPU per call measured too), so
  the client's own cost shows.

Ratios: Recommend p50 / bare forward p50 (bar <= 1.2) and QPS(max c) / QPS(1) (bar >= 3).
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

import typer

from benchmarks.serve_load import QUERIES
from benchmarks.serve_users import synthetic_users, warm_users
from fulcrum.core.percentiles import percentile

DEFAULT_BUNDLE = Path("artifacts/bundles/LATEST")
DEFAULT_OUT = Path("artifacts/bench/serve.json")


def _pct(xs: list[float], q: float) -> float:
    return percentile(xs, q)


def _bare_feeds(model, profile, config) -> tuple[dict, dict | None]:
    """The exact ONNX inputs one Recommend builds for ``profile``: the user encoder's, and the
    ranker's only when the config makes Recommend run the ranking head (``needs_ranker``; the
    default ``ranking_mode: retrieval`` does not), so the baseline is the ONNX work Recommend does."""
    from fulcrum.core.bundle.retrieval import blocked_mask, top_candidates
    from fulcrum.core.rank_features import rank_features
    from fulcrum.core.rerank.anti_recommendation import blocked_items
    from fulcrum.core.rerank.ordering import needs_ranker
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
                await recommend(  # with the server's own caches: what its Recommend runs
                    model,
                    servicer.features,
                    servicer.feature_executor,
                    config,
                    recommend_query(rec, config),
                    30.0,
                    servicer.profile_rows,
                    servicer.user_vectors,
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


async def _throughput(target: str, ids: list[str], n: int, levels: list[int], workdir: Path) -> dict:
    """Per concurrency level: the Python load generator's figures, then ghz's (when on PATH), each
    with the server's CPU per call over that phase."""
    from benchmarks import ghz_load

    ghz = ghz_load.ghz_path()
    protoset = None
    if ghz is not None:
        try:
            protoset = ghz_load.build_protoset(workdir / "recommender.protoset")
        except RuntimeError as e:
            typer.echo(f"bench serve: ghz found but not used: {e}", err=True)
    out: dict[str, dict] = {}
    for c in levels:
        calls = max(n, c * 8)
        row = {"python": await _client(target, "qps", ids, calls, c)}
        if protoset is not None:
            cpu0 = _cpu_s()
            g = await asyncio.to_thread(ghz_load.run_ghz, ghz, protoset, target, ids, calls, c, workdir)
            g["server_cpu_ms_per_call"] = (_cpu_s() - cpu0) / calls * 1000.0
            row["ghz"] = g
        out[str(c)] = row
    return out


async def _run(
    bundle: Path,
    n: int,
    levels: list[int],
    n_users: int,
    seed: int,
    provider: str,
    repo: Path | None,
    store: str | None,
    redis_url: str | None,
    workdir: Path,
) -> dict:
    from online.config import build_config
    from online.security.config import LOOPBACK_DEMO
    from online.server.app import create_server
    from online.server.feature_source import FeastFeatureSource, InMemoryFeatures
    from online.server.process_tuning import freeze_heap

    config = build_config(
        {
            "host": "127.0.0.1",
            "port": 0,
            "metrics_port": 0,
            "execution_provider": provider,
            "security": LOOPBACK_DEMO,
        }
    )
    client = None
    if repo is not None:
        from online.features.client import OnlineFeatureClient

        client = OnlineFeatureClient.open(  # as `fulcrum serve` opens it (online/server/command.py)
            repo,
            store,
            redis_url,
            default_timeout_s=config.feature_timeout_ms / 1000,
            user_cache_entries=config.user_row_cache,
        )
        features = FeastFeatureSource(client)
        reader = client._readers.get("recommend_user")
        kind = f"feast {reader.backend if reader is not None else 'get_online_features'}"
    else:
        features = InMemoryFeatures()
        kind = "in-memory"
    # the heap frozen after start-up as `fulcrum serve` does (online/server/command.py); its
    # one-BLAS-thread limit is not applied here: in this process, which also runs the latency
    # phase's client and bare forwards, it made Recommend p50 over gRPC 7.6 ms against 2.7 ms
    # without (both measured, load 6; not explained yet)
    server, port = await create_server(config, bundle, features)
    freeze_heap()
    await server.start()
    model = server.holder.current
    try:
        if client is not None:
            users = await asyncio.to_thread(warm_users, repo, client, model.catalogue.current, n_users, seed)
        else:
            users = synthetic_users(model.catalogue.current, n_users, 20, seed)
            for u in users:
                features.put(u)
        target = f"127.0.0.1:{port}"
        ids = [u.user_id for u in users]
        lat = await _latency(server, config, users, port, n)
        before = _batch_totals()
        throughput = await _throughput(target, ids, n, levels, workdir)
        after = _batch_totals()
    finally:
        await server.stop(0)
        if client is not None:
            client.close()
    rec_lat, search_lat, info_lat, pipeline = lat["rec"], lat["search"], lat["info"], lat["pipeline"]
    bare_rec, bare_search = lat["bare_rec"], lat["bare_search"]
    low, high = str(levels[0]), str(levels[-1])
    qps = {c: row["python"]["qps"] for c, row in throughput.items()}
    failures = sum(r.get("failures", 0) for row in throughput.values() for r in row.values())
    mean_batch = {  # requests per ORT call over all the throughput phases
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
        "features": kind,
        "warm_users": len(users),
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
        "qps": qps,
        "throughput": throughput,
        # CPU per Recommend of the server process and of the Python load generator per level:
        # with both on the same cores, QPS <= cpus * 1000 / (server + client ms per call)
        "cpu_ms_per_call": {
            c: {
                "server": row["python"].get("server_cpu_ms_per_call"),
                "client": row["python"].get("client_cpu_ms_per_call"),
            }
            for c, row in throughput.items()
        },
        "failed_calls": failures,
        "mean_batch_size": mean_batch,
    }
    result["ratios"] = {
        "recommend_p50_over_bare_forward_p50": result["recommend_ms"]["p50"]
        / result["bare_forward_recommend_ms"]["p50"],
        "search_p50_over_bare_forward_p50": result["search_ms"]["p50"]
        / result["bare_forward_search_ms"]["p50"],
        f"qps_{high}_over_qps_{low}": qps[high] / qps[low],
    }
    result["bars"] = {
        "recommend_p50_over_bare_forward_p50 <= 1.2": result["ratios"]["recommend_p50_over_bare_forward_p50"]
        <= 1.2,
        f"qps_{high}_over_qps_{low} >= 3": result["ratios"][f"qps_{high}_over_qps_{low}"] >= 3.0,
    }
    return result


def bench_serve(
    bundle: Path = typer.Option(DEFAULT_BUNDLE, "--bundle", help="Bundle folder."),  # noqa: B008
    feature_repo: Path | None = typer.Option(  # noqa: B008
        None,
        "--feature-repo",
        help="Feast repo to read users from (what `fulcrum serve` runs); none: in-memory.",
    ),
    store: str | None = typer.Option(
        None, "--store", help="sqlite | redis (default: $FULCRUM_FEATURE_STORE or sqlite)."
    ),
    redis_url: str | None = typer.Option(None, "--redis-url", help="redis://host:port for --store redis."),
    requests: int = typer.Option(400, "--requests", min=20, help="Calls per latency measurement."),
    concurrency: str = typer.Option(
        "1,8,32,64", "--concurrency", help="Comma-separated concurrency levels (1 is always run)."
    ),
    users: int = typer.Option(
        200, "--users", min=1, help="Warm users drawn from the store (or synthetic in memory)."
    ),
    provider: str = typer.Option("auto", "--provider", help="auto | cpu | cuda"),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="JSON output file."),  # noqa: B008
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Serving latency and throughput on the configured feature store, against bare ONNX Runtime."""
    import tempfile

    from benchmarks.serve_table import print_table

    if not (bundle / "manifest.json").is_file():
        raise typer.BadParameter(
            f"{bundle} has no manifest.json (train and export a bundle first)", param_hint="--bundle"
        )
    try:
        levels = sorted({1} | {int(c) for c in concurrency.split(",") if c.strip()})
    except ValueError as e:
        raise typer.BadParameter(
            f"expected numbers like 1,8,32,64, got {concurrency!r}", param_hint="--concurrency"
        ) from e
    if levels[0] < 1 or len(levels) < 2:
        raise typer.BadParameter("give at least one level > 1, all >= 1", param_hint="--concurrency")
    if feature_repo is not None and not (feature_repo / "feature_store.yaml").is_file():
        raise typer.BadParameter(
            f"{feature_repo} is not a Feast repo (no feature_store.yaml)", param_hint="--feature-repo"
        )
    with tempfile.TemporaryDirectory() as tmp:
        try:
            result = asyncio.run(
                _run(
                    bundle, requests, levels, users, seed, provider, feature_repo, store, redis_url, Path(tmp)
                )
            )
        except RuntimeError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(2) from e
    print_table(result)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    typer.echo(f"wrote {out}")


if __name__ == "__main__":
    typer.run(bench_serve)
