"""The load generator of `fulcrum bench serve`: gRPC calls against a running server, as JSON.

Run as its own process (``python -m benchmarks.serve_load --target HOST:PORT --phase ...``) so the
client's Python work does not share the server's interpreter, like a remote client would.
Phases: ``latency`` (warm-up, then sequential Recommend, Search and GetModelInfo: per-call
seconds) and ``qps`` (Recommend at a given concurrency: calls per second, p50/p99 latency, and
the client's own CPU per call).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

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


async def latency_phase(target: str, users: list[str], n: int) -> dict:
    import grpc

    from fulcrum.v1 import recommender_pb2 as pb
    from fulcrum.v1 import recommender_pb2_grpc

    async with grpc.aio.insecure_channel(target) as channel:
        stub = recommender_pb2_grpc.RecommenderStub(channel)
        rec = [pb.RecommendRequest(user_id=users[i % len(users)], k=10) for i in range(n)]
        search = [pb.SearchRequest(query=QUERIES[i % len(QUERIES)], k=10) for i in range(n)]
        for i in range(30):
            await stub.Recommend(rec[i % n])
            await stub.Search(search[i % n])

        async def timed(call, reqs) -> list[float]:
            out = []
            for r in reqs:
                t0 = time.perf_counter()
                await call(r)
                out.append(time.perf_counter() - t0)
            return out

        return {
            "recommend_s": await timed(stub.Recommend, rec),
            "search_s": await timed(stub.Search, search),
            "model_info_s": await timed(stub.GetModelInfo, [pb.GetModelInfoRequest()] * n),
        }


async def qps_phase(target: str, users: list[str], total: int, concurrency: int) -> dict:
    import grpc

    from fulcrum.v1 import recommender_pb2 as pb
    from fulcrum.v1 import recommender_pb2_grpc

    async with grpc.aio.insecure_channel(target) as channel:
        stub = recommender_pb2_grpc.RecommenderStub(channel)
        reqs = [pb.RecommendRequest(user_id=users[i % len(users)], k=10) for i in range(total)]
        for r in reqs[: min(total, 2 * concurrency)]:  # warm the channel
            await stub.Recommend(r)
        counter = iter(reqs)
        failures = 0

        latencies: list[float] = []

        async def worker():
            nonlocal failures
            for r in counter:
                t = time.perf_counter()
                try:
                    await stub.Recommend(r, timeout=30)
                except grpc.aio.AioRpcError:
                    failures += 1
                latencies.append(time.perf_counter() - t)

        t0, cpu0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    latencies.sort()
    return {
        "qps": total / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000.0,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000.0,
        "calls": total,
        "warm_up_calls": min(total, 2 * concurrency),
        "failures": failures,
        "concurrency": concurrency,
        # this process's CPU per call while the timed calls ran (all its threads)
        "client_cpu_ms_per_call": cpu / total * 1000.0,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--target", required=True)
    p.add_argument("--phase", choices=("latency", "qps"), required=True)
    p.add_argument("--users", required=True, help="comma-separated user ids")
    p.add_argument("--n", type=int, default=400)
    p.add_argument("--concurrency", type=int, default=1)
    a = p.parse_args(argv)
    users = a.users.split(",")
    if a.phase == "latency":
        out = asyncio.run(latency_phase(a.target, users, a.n))
    else:
        out = asyncio.run(qps_phase(a.target, users, a.n, a.concurrency))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
