"""Event-loop health under load: `python -m benchmarks.loop_health --feature-repo REPO`.

Starts `fulcrum serve` with the loop-lag probe at a 1 ms period (online/server/loop_lag.py) and
runs phases, scraping ``fulcrum_event_loop_lag_seconds`` from /metrics after each: idle; ghz
Recommend for warm users at a fixed rate; the same while ITEM_UPSERTs of new items stream in
through IngestEvents (``--upserts-per-s`` in batches of ``--batch``, realistic product texts);
the same with the heaviest user of the data (the longest stored row) in the mix; the same while
the bundle is reloaded (ReloadModel) twice. Per phase: lag samples, samples above 5 ms and the
largest lag; a stall of S ms shows as a sample of at least S - 1 ms. On a shared machine the
process also waits for a core now and then, which shows as lag too: the idle and Recommend-only
phases are the baseline to read the others against. Prints the load average with every phase.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import typer

from benchmarks import ghz_load
from benchmarks.real_path import RECOMMEND, free_port, ghz, start_server, stop_server, warm_user_ids

WORDS = (
    "vintage red heart cushion cover cotton ceramic mug set of 6 paper lanterns glass t-light holder "
    "wooden storage box garden bird feeder retro alarm clock lunch bag spotty pink"
).split()


def _lag(metrics_url: str) -> dict[str, float]:
    """{count, above_5ms, max_s} of the lag histogram and gauge right now."""
    text = urllib.request.urlopen(metrics_url, timeout=10).read().decode()  # noqa: S310 (loopback)
    got: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("fulcrum_event_loop_lag_seconds_count"):
            got["count"] = float(line.split()[-1])
        elif line.startswith('fulcrum_event_loop_lag_seconds_bucket{le="0.005"}'):
            got["le_5ms"] = float(line.split()[-1])
        elif line.startswith("fulcrum_event_loop_lag_max_seconds"):
            got["max_s"] = float(line.split()[-1])
    return got


def _heaviest_user(repo: Path) -> str:
    import pandas as pd

    from fulcrum.core import feature_names as fn

    table = pd.read_parquet(
        repo / "data" / fn.batch_file_name(fn.USER_BEHAVIOUR_VIEW), columns=[fn.USER_KEY, fn.BOUGHT]
    )
    sizes = table[fn.BOUGHT].map(lambda v: 0 if v is None else len(v))
    return str(table[fn.USER_KEY].iloc[int(sizes.to_numpy().argmax())])


def _upserts(target: str, per_s: int, batch: int, stop: threading.Event, sent: list[int]) -> None:
    """Stream ITEM_UPSERTs of new items through IngestEvents until ``stop``."""
    import grpc
    import numpy as np

    from fulcrum.v1 import recommender_pb2 as pb
    from fulcrum.v1 import recommender_pb2_grpc

    rng = np.random.default_rng(0)
    run = int(time.time())
    with grpc.insecure_channel(target) as ch:
        stub = recommender_pb2_grpc.RecommenderStub(ch)
        n = 0
        while not stop.is_set():
            t = time.monotonic()
            events = []
            for _ in range(batch):
                text = " ".join(rng.choice(WORDS, size=int(rng.integers(4, 12))))
                events.append(
                    pb.Event(
                        event_id=f"lh-{run}-{n}",
                        type=pb.ITEM_UPSERT,
                        item_id=f"lh-item-{run}-{n}",
                        price=float(rng.integers(1, 50)),
                        timestamp_ms=int(time.time() * 1000),
                        item_text=text,
                    )
                )
                n += 1
            stub.IngestEvents(iter(events), timeout=30)
            sent[0] = n
            stop.wait(max(batch / per_s - (time.monotonic() - t), 0.0))


def loop_health(
    feature_repo: Path = typer.Option(..., "--feature-repo"),  # noqa: B008
    store: str = typer.Option("sqlite", "--store"),
    redis_url: str | None = typer.Option(None, "--redis-url"),
    bundle: Path = typer.Option(Path("artifacts/bundles/LATEST"), "--bundle"),  # noqa: B008
    rps: int = typer.Option(150, "--rps", help="Recommend rate of the ghz phases."),
    upserts_per_s: int = typer.Option(200, "--upserts-per-s"),
    batch: int = typer.Option(50, "--batch"),
    seconds: float = typer.Option(12.0, "--seconds", help="Seconds per phase."),
    event_loop: str = typer.Option("asyncio", "--event-loop"),
    out: Path | None = typer.Option(None, "--out"),  # noqa: B008
) -> None:
    """Event-loop lag per phase: idle, Recommend, + upserts, + heaviest user, + reloads."""
    import grpc

    from fulcrum.v1 import recommender_pb2 as pb
    from fulcrum.v1 import recommender_pb2_grpc

    bundle, repo = bundle.resolve(), feature_repo.resolve()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        protoset = ghz_load.build_protoset(work / "recommender.protoset")
        warm = [{"user_id": u, "k": 10} for u in warm_user_ids(repo, store, redis_url, bundle, 200, 0)]
        heavy = _heaviest_user(repo)
        mport = free_port()
        extra = {"loop_lag_probe_ms": 1.0, "metrics_port": mport, "event_loop": event_loop}
        proc, target = start_server(bundle, work, "lag", repo, store, redis_url, 1, extra=extra)
        url = f"http://127.0.0.1:{mport}/metrics"

        def phase(name: str, during=None, data=warm, load=True) -> None:
            before = _lag(url)
            stop, extra_info = threading.Event(), {}
            side = threading.Thread(target=during, args=(stop, extra_info)) if during else None
            if side:
                side.start()
            if load:
                g = ghz(protoset, target, RECOMMEND, data, work, concurrency=8, seconds=seconds, rps=rps)
            else:
                time.sleep(seconds)
                g = {}
            stop.set()
            if side:
                side.join()
            after = _lag(url)
            n = after["count"] - before["count"]
            above = n - (after["le_5ms"] - before["le_5ms"])
            row = {
                "phase": name,
                "samples": n,
                "above_5ms": above,
                "max_lag_ms_so_far": after["max_s"] * 1000,
                "recommend_qps": g.get("qps"),
                "recommend_p99_ms": g.get("p99_ms"),
                "failed": g.get("failed"),
                **extra_info,
                "load_1m": os.getloadavg()[0],
            }
            rows.append(row)
            print(json.dumps(row), flush=True)

        def upserts(stop, info):
            sent = [0]
            try:
                _upserts(target, upserts_per_s, batch, stop, sent)
            except Exception as e:  # reported in the row: a phase without upserts is not that phase
                info["upserts_error"] = f"{type(e).__name__}: {e}"[:300]
            info["upserts_sent"] = sent[0]

        def reloads(stop, info):
            with grpc.insecure_channel(target) as ch:
                stub = recommender_pb2_grpc.RecommenderStub(ch)
                for _ in range(2):
                    stop.wait(seconds / 3)
                    stub.ReloadModel(pb.ReloadModelRequest(), timeout=120)
                    info["reloads"] = info.get("reloads", 0) + 1

        try:
            phase("idle", load=False)
            phase("Recommend (warm users)")
            phase("Recommend + ITEM_UPSERT stream", upserts)
            phase("Recommend incl. heaviest user", data=warm + [{"user_id": heavy, "k": 10}] * 20)
            phase("Recommend + 2 ReloadModel", reloads)
        finally:
            stop_server(proc)
    if out:
        out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    typer.run(loop_health)
