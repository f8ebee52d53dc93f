"""The client side of `make compose-test`, run in the serving image on the compose network.

    python smoke_client.py --server server:50051 --metrics http://ingest:9464/metrics \
        --data /artifacts/data --from 2011-11-09 --limit 2000 [--timeout 180]

1. the gRPC health service of the server answers SERVING;
2. the ingest consumer has received every replayed event and applied some (its Prometheus
   counters, polled with a deadline; the replay runs with --no-announce-items);
3. Recommend, through a real gRPC client, for the replayed user with the most events: a
   non-empty, non-degraded answer.
The channel is the jobs' client (fulcrum/client/channel.py): TLS with the server's CA and the
bearer token from FULCRUM_CLIENT_CA_FILE / FULCRUM_CLIENT_TOKEN_FILE (a `recommend` token); none
set, plaintext. Prints one JSON line with what it saw; exit 1 with the reason
   otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request


def _counters(metrics_url: str) -> dict[str, float]:
    """fulcrum_ingest_{consumed,applied,rejected}_total, each summed over its labels."""
    with urllib.request.urlopen(metrics_url, timeout=5) as reply:
        text = reply.read().decode()
    out = {"consumed": 0.0, "applied": 0.0, "rejected": 0.0}
    for line in text.splitlines():
        for name in out:
            if line.startswith(f"fulcrum_ingest_{name}_total"):
                out[name] += float(line.rsplit(" ", 1)[1])
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", default="server:50051")
    p.add_argument("--metrics", default="http://ingest:9464/metrics")
    p.add_argument("--data", default="/artifacts/data")
    p.add_argument("--from", dest="start", default="2011-11-09")
    p.add_argument("--limit", type=int, default=2000)
    p.add_argument("--timeout", type=float, default=180.0)
    args = p.parse_args(argv)

    import pandas as pd
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from fulcrum.core import schema as S
    from fulcrum.v1 import recommender_pb2 as pb
    from fulcrum.v1 import recommender_pb2_grpc as pb_grpc
    from online.ingest.replay import replay_frame

    def fail(why: str) -> int:
        print(f"smoke_client: {why}", file=sys.stderr)
        return 1

    events = pd.read_parquet(f"{args.data}/{S.EVENTS_FILE}")
    sent = replay_frame(events, args.start, limit=args.limit)
    users = sent[S.USER_ID].astype(str)
    users = users[users != ""]
    if users.empty:
        return fail(f"no user event in the first {args.limit} events from {args.start}")
    user = users.value_counts().index[0]

    deadline = time.monotonic() + args.timeout
    counts = {"consumed": 0.0, "applied": 0.0, "rejected": 0.0}
    while time.monotonic() < deadline:
        try:
            counts = _counters(args.metrics)
        except OSError:
            pass
        if counts["consumed"] >= len(sent) and counts["applied"] + counts["rejected"] >= len(sent):
            break
        time.sleep(1.0)
    else:
        return fail(f"ingest: {counts} of {len(sent)} events within {args.timeout:.0f} s")
    if counts["applied"] == 0:
        return fail(f"ingest applied none of {len(sent)} events: {counts}")

    from fulcrum.client.channel import ClientSecurity

    with ClientSecurity.from_env().channel(args.server) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        if health.status != health_pb2.HealthCheckResponse.SERVING:
            return fail(f"health: {health_pb2.HealthCheckResponse.ServingStatus.Name(health.status)}")
        started = time.perf_counter()
        reply = pb_grpc.RecommenderStub(channel).Recommend(
            pb.RecommendRequest(user_id=user, k=5), timeout=10, metadata=ClientSecurity.from_env().metadata()
        )
        ms = (time.perf_counter() - started) * 1000
    seen = {
        "health": "SERVING",
        "ingest": counts,
        "events_sent": len(sent),
        "user": user,
        "user_events_sent": int((users == user).sum()),
        "bundle_version": reply.bundle_version,
        "degraded": reply.degraded,
        "recommend_ms": round(ms, 1),
        "items": [{"item_id": i.item_id, "score": round(i.score, 4), "reason": pb.Reason.Name(i.reason)}
                  for i in reply.items],
    }
    print(json.dumps(seen))
    if not reply.items:
        return fail("Recommend answered no item")
    if reply.degraded:
        return fail(f"Recommend degraded: {reply.degraded_reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
