"""Event-loop health under load: `python -m benchmarks.loop_health --feature-repo REPO`.

Starts `fulcrum serve` with the loop-lag probe at a 1 ms period (online/server/loop_lag.py) and
runs phases, scraping ``fulcrum_event_loop_lag_seconds`` from /metrics after each: idle; ghz
Recommend for warm users at a fixed rate; the same while ITEM_UPSERTs of new items stream in
through IngestEvents (``--upserts-per-s`` in batches of ``--batch``, realistic product texts);
the same with the heaviest user of the data (the longest stored row) in the mix; the same while
the bundle is reloaded (ReloadModel) twice; and the ITEM_UPSERT stream alone, without Recommend
load (``upserts``), which isolates what upserts cost the loop. ``--phases`` picks and orders
them (default: all). ``--upserts-per-s 0`` streams as fast as the server takes them.

Per phase: lag samples, samples above 5 ms and above 10 ms, the upper bound of the highest
histogram bucket that got a sample this phase (``worst_bucket_ms``: the phase's largest lag is at
most this), the largest lag since start, and for upsert phases the items the server applied
(``fulcrum_items_upserted_total``) per second of the phase. A stall of S ms shows as a sample of
at least S - 1 ms. On a shared machine the process also waits for a core now and then, which
shows as lag too: the idle and Recommend-only phases are the baseline to read the others
against. Prints the load average with every phase. ``--python-path DIR`` runs the server from
another source tree (e.g. ``git archive main``) for a before/after pair on one machine.
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


PHASES = ("idle", "recommend", "upserts", "recommend+upserts", "heavy", "reload")


def _lag(metrics_url: str) -> dict[str, float]:
    """{count, max_s, upserted, bucket bound (s) -> count} of the lag histogram, gauge and upsert
    counter now."""
    text = urllib.request.urlopen(metrics_url, timeout=10).read().decode()  # noqa: S310 (loopback)
    got: dict = {"upserted": 0.0, "buckets": {}}
    for line in text.splitlines():
        if line.startswith("fulcrum_event_loop_lag_seconds_count"):
            got["count"] = float(line.split()[-1])
        elif line.startswith("fulcrum_event_loop_lag_seconds_bucket{"):
            bound = float(line.split('le="', 1)[1].split('"', 1)[0])  # +Inf parses as inf
            got["buckets"][bound] = float(line.split()[-1])
        elif line.startswith("fulcrum_event_loop_lag_max_seconds"):
            got["max_s"] = float(line.split()[-1])
        elif line.startswith("fulcrum_items_upserted_total"):
            got["upserted"] = float(line.split()[-1])
    return got


def _phase_lag(before: dict, after: dict) -> dict[str, float | None]:
    """Samples, samples above 5 and 10 ms, and the highest bucket bound reached in this phase."""
    n = after["count"] - before["count"]
    within = {b: after["buckets"][b] - before["buckets"].get(b, 0.0) for b in after["buckets"]}
    # the smallest finite bound that holds every sample of the phase (None: above them all)
    worst = next((b * 1000 for b in sorted(within) if b != float("inf") and within[b] >= n), None)
    return {
        "samples": n,
        "above_5ms": n - within[0.005],
        "above_10ms": n - within[0.01],
        "worst_bucket_ms": worst,
    }


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
            if per_s > 0:
                stop.wait(max(batch / per_s - (time.monotonic() - t), 0.0))


def loop_health(
    feature_repo: Path = typer.Option(..., "--feature-repo"),  # noqa: B008
    store: str = typer.Option("sqlite", "--store"),
    redis_url: str | None = typer.Option(None, "--redis-url"),
    bundle: Path = typer.Option(Path("artifacts/bundles/LATEST"), "--bundle"),  # noqa: B008
    rps: int = typer.Option(150, "--rps", help="Recommend rate of the ghz phases."),
    upserts_per_s: int = typer.Option(200, "--upserts-per-s", help="0: as fast as accepted."),
    batch: int = typer.Option(50, "--batch"),
    seconds: float = typer.Option(12.0, "--seconds", help="Seconds per phase."),
    event_loop: str = typer.Option("asyncio", "--event-loop"),
    out: Path | None = typer.Option(None, "--out"),  # noqa: B008
    phases: str = typer.Option(",".join(PHASES), "--phases", help=f"Comma list of {', '.join(PHASES)}."),
    python_path: Path | None = typer.Option(None, "--python-path", help="Serve from this source tree."),  # noqa: B008
) -> None:
    """Event-loop lag per phase: idle, Recommend, + upserts, + heaviest user, + reloads."""
    import grpc

    from fulcrum.v1 import recommender_pb2 as pb
    from fulcrum.v1 import recommender_pb2_grpc

    bundle, repo = bundle.resolve(), feature_repo.resolve()
    chosen = [p.strip() for p in phases.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in PHASES]
    if unknown:
        raise typer.BadParameter(f"unknown {unknown}; choose from {', '.join(PHASES)}", param_hint="--phases")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        protoset = ghz_load.build_protoset(work / "recommender.protoset")
        warm = [{"user_id": u, "k": 10} for u in warm_user_ids(repo, store, redis_url, bundle, 200, 0)]
        heavy = _heaviest_user(repo)
        mport = free_port()
        extra = {"loop_lag_probe_ms": 1.0, "metrics_port": mport, "event_loop": event_loop}
        proc, target = start_server(
            bundle, work, "lag", repo, store, redis_url, 1, python_path=python_path, extra=extra
        )
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
            row = {
                "phase": name,
                **_phase_lag(before, after),
                "max_lag_ms_so_far": after["max_s"] * 1000,
                "recommend_qps": g.get("qps"),
                "recommend_p99_ms": g.get("p99_ms"),
                "failed": g.get("failed"),
                **extra_info,
                "upserts_applied_per_s": round((after["upserted"] - before["upserted"]) / seconds, 1),
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

        runs = {
            "idle": lambda: phase("idle", load=False),
            "recommend": lambda: phase("Recommend (warm users)"),
            "upserts": lambda: phase("ITEM_UPSERT stream alone", upserts, load=False),
            "recommend+upserts": lambda: phase("Recommend + ITEM_UPSERT stream", upserts),
            "heavy": lambda: phase("Recommend incl. heaviest user", data=warm + [{"user_id": heavy, "k": 10}] * 20),  # noqa: E501
            "reload": lambda: phase("Recommend + 2 ReloadModel", reloads),
        }
        try:
            for name in chosen:
                runs[name]()
        finally:
            stop_server(proc)
    if out:
        out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    typer.run(loop_health)
