"""CPU per warm Recommend through the servicer, without gRPC: `python -m benchmarks.handler_cpu`.

Builds the server exactly as `fulcrum serve` does (``create_server``: the bundle, the Feast
source with its caches, batchers and executors) but never starts it, and calls
``RecommenderServicer.Recommend`` itself with the protobuf request and a stand-in context:
request validation, the feature read and decode, the pipeline and the reply message, i.e. all of
a call but gRPC's own share (measured apart by `benchmarks/grpc_floor.py`). ``--concurrency``
calls are kept in flight on the event loop (the batchers see the same overlap as under ghz).
The figure is the process's CPU time (all threads) over the timed calls, per call: on a shared
machine it moves far less with the load than wall-clock QPS does, so back-to-back runs of two
source trees (``--python-path``) compare code, not the neighbours' jobs.

    python -m benchmarks.handler_cpu --feature-repo REPO [--store redis --redis-url URL] \
        [--calls 3000] [--concurrency 32] [--rounds 3] [--python-path OLD_TREE]
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import typer

ROOT = Path(__file__).resolve().parents[1]


class _Context:
    """What the servicer's Recommend reads of a grpc.aio context: no deadline, no metadata."""

    def time_remaining(self):
        return None

    def invocation_metadata(self):
        return ()


async def _measure(bundle: Path, repo: Path, store: str, redis_url, calls: int, concurrency: int, users: int):
    from benchmarks.real_path import warm_user_ids
    from fulcrum.core import environment
    from fulcrum.core.feature_store import ENV_REDIS_URL
    from fulcrum.v1 import recommender_pb2 as pb
    from online.config import ServeConfig
    from online.server.app import create_server
    from online.server.feature_source import FeastFeatureSource
    from online.server.process_tuning import freeze_heap

    environment.set_for_process(FULCRUM_FEATURE_STORE=store,
                                **({ENV_REDIS_URL: redis_url} if redis_url else {}))
    ids = warm_user_ids(repo, store, redis_url, bundle, users, 0)
    cfg = ServeConfig.model_validate(
        {
            "host": "127.0.0.1",
            "port": 0,
            "feature_repo": str(repo),
            "security": {"allow_plaintext": True, "allow_unauthenticated": True},
        }
    )
    source = FeastFeatureSource.from_repo(
        str(repo), cfg.feature_timeout_ms / 1000.0, user_cache_entries=cfg.user_row_cache
    )
    server, _ = await create_server(cfg, bundle, source)
    freeze_heap()
    servicer, ctx = server.servicer, _Context()
    requests = [pb.RecommendRequest(user_id=u, k=10) for u in ids]

    async def worker(start: int, n: int) -> None:
        for j in range(n):
            await servicer.Recommend(requests[(start + j) % len(requests)], ctx)

    async def run(n: int) -> tuple[float, float]:
        per = n // concurrency
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(i * 7, per) for i in range(concurrency)))
        return time.process_time() - cpu0, time.perf_counter() - wall0

    await run(min(calls, 400))  # warm-up: caches, batchers, ORT
    n = (calls // concurrency) * concurrency
    cpu, wall = await run(n)
    await server.stop(0)
    import online

    return {
        "cpu_ms_per_call": cpu / n * 1000.0,
        "calls": n,
        "wall_s": wall,
        "load_1m": os.getloadavg()[0],
        "code": str(Path(online.__file__).parents[1]),
    }


def handler_cpu(
    bundle: Path = typer.Option(Path("artifacts/bundles/LATEST"), "--bundle"),  # noqa: B008
    feature_repo: Path = typer.Option(..., "--feature-repo", help="An applied Feast repo."),  # noqa: B008
    store: str = typer.Option("sqlite", "--store", help="sqlite | redis"),
    redis_url: str | None = typer.Option(None, "--redis-url"),
    calls: int = typer.Option(3000, "--calls", min=100),
    concurrency: int = typer.Option(32, "--concurrency", min=1),
    users: int = typer.Option(200, "--users", min=1),
    rounds: int = typer.Option(1, "--rounds", min=1, help="Alternated rounds (with --python-path)."),
    python_path: Path | None = typer.Option(  # noqa: B008
        None, "--python-path", help="Also measure this source tree, alternated with this one."
    ),
    child: bool = typer.Option(False, "--child", hidden=True),
) -> None:
    """CPU per warm Recommend through the servicer (no gRPC), optionally old tree vs this one."""
    if store == "redis" and not redis_url:
        raise typer.BadParameter("--store redis needs --redis-url", param_hint="--redis-url")
    args = (bundle.resolve(), feature_repo.resolve(), store, redis_url, calls, concurrency, users)
    if child:
        print(json.dumps(asyncio.run(_measure(*args))))
        return
    from fulcrum.core.environment import child_environment

    trees = [("this", ROOT)] + ([("other", python_path.resolve())] if python_path else [])
    # run as a file, not -m: sys.path[0] is then this folder, and the measured packages (online,
    # fulcrum) come from PYTHONPATH = the tree under test
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--bundle", str(args[0])]
    cmd += ["--feature-repo", str(args[1]), "--store", store, "--calls", str(calls)]
    cmd += ["--concurrency", str(concurrency), "--users", str(users)]
    cmd += ["--redis-url", redis_url] if redis_url else []
    print(
        "| round | tree | CPU ms/call | calls | wall s | load 1m | code from |\n|---|---|---|---|---|---|---|"
    )
    for r in range(rounds):
        for name, tree in trees if r % 2 == 0 else trees[::-1]:
            env = child_environment(PYTHONPATH=str(tree))
            proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"{name} tree failed: {proc.stderr.strip()[-800:]}")
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            print(
                f"| {r + 1} | {name} | {res['cpu_ms_per_call']:.3f} | {res['calls']} | {res['wall_s']:.1f} | "
                f"{res['load_1m']:.2f} | {res['code']} |",
                flush=True,
            )


if __name__ == "__main__":
    typer.run(handler_cpu)
