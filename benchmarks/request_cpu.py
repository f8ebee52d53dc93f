"""In-process CPU per Recommend and Search call (no gRPC): `python -m benchmarks.request_cpu`.

Loads the bundle as the server does (``load_bundle`` with the serve config's defaults,
``ServingModel``, one BLAS thread per process; the ONNX towers run inline on the calling
thread), with an in-memory store of ``--users`` synthetic warm users (a seeded draw of 3-30
bought catalogue items each, the last ones also their recent history), the server's per-user
row cache and user-vector reuse at their defaults, and times with the thread's CPU clock
(``time.thread_time``) each awaited call of the pipeline functions the servicer calls:

- ``warm``: Recommend for a warm user (k 10, seeded knobs);
- ``cold``: Recommend for an unknown user without session items (popular now);
- ``cold_session``: an unknown user with 2 random session items;
- ``search``: anonymous Search for two words of a random item's title.

Prints p50 and mean CPU per call for each, with the catalogue size, whether the ANN path is
active and the load average. ``--towers cached`` takes the user tower's and the query encoder's
outputs from a table filled on each user's / query's first call (a warm-up pass over all of
them), so the figures are the pipeline's own work around the models (retrieval, blocked rows,
fusion, re-rank): what a change to that work moves, without the towers' larger noise.
``--python-path DIR`` runs the same measurement on another source tree (e.g. ``git archive`` of
main) for an A/B pair back to back.

    .venv/bin/python -m benchmarks.request_cpu --bundle artifacts/bundles/LATEST [--python-path OLD]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from fulcrum.core.environment import child_environment

KINDS = ("warm", "cold", "cold_session", "search")


def _users(cat, n: int, rng) -> list:
    from fulcrum.core.profile import UserProfile

    out = []
    for u in range(n):
        rows = rng.choice(len(cat), size=int(rng.integers(3, 31)), replace=False)
        ids = tuple(str(cat.item_ids[r]) for r in rows)
        now = time.time()
        times = tuple(now - 3600.0 * (len(ids) - j) for j in range(len(ids)))
        out.append(UserProfile(f"bench-{u}", ids, ("purchase",) * len(ids), times, float(len(ids)), 0.0,
                               float(len(ids)), times[-1], frozenset(ids)))  # fmt: skip
    return out


def _cache_towers(model) -> None:
    """Replace the model's user tower and query encoder with a table of their outputs, filled
    on the first call of each distinct input."""
    encode_user, encode_query = model.encode_user, model.encode_search_query
    users: dict[bytes, object] = {}
    queries: dict[str, object] = {}

    async def cached_user(history):
        key = history.emb.tobytes() + history.types.tobytes()
        if key not in users:
            users[key] = await encode_user(history)
        return users[key]

    async def cached_query(text, cache_size=0):
        if text not in queries:
            queries[text] = await encode_query(text, cache_size)
        return queries[text]

    model.encode_user, model.encode_search_query = cached_user, cached_query


def _measure(bundle: str, n_users: int, requests: int, seed: int, kinds: list[str], towers: str) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from fulcrum.core.bundle.loader import load_bundle
    from online.config import ServeConfig
    from online.inference.model import ServingModel
    from online.server.feature_source import InMemoryFeatures
    from online.server.process_tuning import limit_blas_threads
    from online.server.profile_rows import ProfileRowsCache
    from online.server.recommend import recommend
    from online.server.requests import Knobs, RecommendQuery, SearchQuery
    from online.server.search import search
    from online.server.user_vectors import UserVectorCache

    rng = np.random.default_rng(seed)
    cfg = ServeConfig()
    limit_blas_threads()  # as `fulcrum serve` runs: one BLAS thread per process
    t = time.perf_counter()
    loaded = load_bundle(
        Path(bundle), "cpu", cfg.intra_op_threads, cfg.int8_item_encoder, ann=cfg.ann_settings()
    )
    load_s = time.perf_counter() - t
    ex = ThreadPoolExecutor(2)
    model = ServingModel(loaded, ex, 64, 0.0, None, lambda: True)
    if towers == "cached":
        _cache_towers(model)
    cat = model.catalogue.current
    users = _users(cat, n_users, rng)
    source = InMemoryFeatures(users)
    rows_cache = ProfileRowsCache(cfg.user_row_cache)
    vectors = UserVectorCache(cfg.user_vector_reuse_ms / 1000.0)
    words = [str(cat.texts[r]).split() for r in rng.integers(0, len(cat), n_users)]
    queries = [" ".join(w[:2]) if w else "gift" for w in words]

    def call(kind: str, i: int):
        knobs = Knobs(cfg.exploration_share, cfg.diversity, False, i)
        if kind == "warm":
            q = RecommendQuery(users[i % len(users)].user_id, 10, (), (), knobs)
            return recommend(model, source, ex, cfg, q, 5.0, rows_cache, vectors)
        if kind in ("cold", "cold_session"):
            session = ()
            if kind == "cold_session":
                session = tuple(str(cat.item_ids[r]) for r in rng.integers(0, len(cat), 2))
            q = RecommendQuery(f"cold-{i}", 10, session, (), knobs)
            return recommend(model, source, ex, cfg, q, 5.0, rows_cache, vectors)
        q = SearchQuery(queries[i % len(queries)], None, 10, None, None, (), knobs)
        return search(model, source, ex, cfg, q, 5.0)

    async def run() -> dict:
        out = {}
        for kind in kinds:
            # warm-up: caches, ORT's first runs (with cached towers: every user and query once)
            for i in range(max(min(50, requests), len(users) if towers == "cached" else 0)):
                await call(kind, i)
            ms = []
            for i in range(requests):
                c = time.thread_time()
                await call(kind, i)
                ms.append((time.thread_time() - c) * 1000)
            a = np.asarray(ms)
            out[kind] = {"p50_ms": round(float(np.median(a)), 3), "mean_ms": round(float(a.mean()), 3)}
        return out

    result = {"items": len(cat), "ann_active": bool(cat.ann_active), "towers": towers,
              "load_s": round(load_s, 1)}  # fmt: skip
    result.update(asyncio.run(run()))
    result["uptime"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    ex.shutdown()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default="artifacts/bundles/LATEST")
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--requests", type=int, default=400, help="timed calls per kind (after 50 warm-up calls)")
    ap.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of {KINDS}")
    ap.add_argument("--towers", choices=("run", "cached"), default="run",
                    help="run the user tower / query encoder per call, or take their outputs from a table")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--python-path", default=None, help="measure this source tree instead")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    if bad := [k for k in kinds if k not in KINDS]:
        ap.error(f"--kinds: {bad} not in {KINDS}")
    if args.child or args.python_path is None:
        import fulcrum

        print(f"measuring {Path(fulcrum.__file__).parents[1]}", file=sys.stderr)
        bundle = str(Path(args.bundle).resolve())
        print(json.dumps(_measure(bundle, args.users, args.requests, args.seed, kinds, args.towers)))
        return
    env = child_environment(PYTHONPATH=str(Path(args.python_path).resolve()))
    cmd = [sys.executable, "-c", "import sys, runpy; sys.argv[0] = 'request_cpu'; "
           "runpy.run_path(sys.argv.pop(1), run_name='__main__')", __file__, "--child",
           "--bundle", str(Path(args.bundle).resolve()), "--users", str(args.users),
           "--requests", str(args.requests), "--kinds", ",".join(kinds), "--towers", args.towers,
           "--seed", str(args.seed)]  # fmt: skip
    subprocess.run(cmd, env=env, cwd=args.python_path, check=True)  # cwd: "-c" puts it first on sys.path
    print(f"load average {os.getloadavg()}", file=sys.stderr)


if __name__ == "__main__":
    main()
