"""Serving measurements of the scale benchmark, through the real gRPC server.

``fulcrum serve --bundle B`` runs as a child process (loopback, plaintext, no feature repo: the
in-memory store, fed through IngestEvents like the embedded demo). Measured: wall time from
spawn to SERVING and the server's own "loaded in" figure, the server's RSS after the load and
after the run, Recommend (warm users: purchases ingested first) and Search (distinct queries of
real title words) latency at concurrency 1 from a blocking Python client, and the rate of
ITEM_UPSERT through IngestEvents until GetModelInfo shows the items (this includes the MiniLM
encoding of every new title, which dominates it).
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

CLI = [sys.executable, "-m", "fulcrum.cli"]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


class Server:
    """`fulcrum serve` on a free loopback port; ``lines`` keeps its log."""

    def __init__(self, bundle: Path, work: Path, extra_config: str, timeout_s: float = 900.0) -> None:
        cfg = work / "serve.yaml"
        cfg.write_text(
            "host: 127.0.0.1\nport: 0\nmetrics_port: 0\n"
            "security: {allow_plaintext: true, allow_unauthenticated: true}\n" + extra_config
        )
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [*CLI, "serve", "--bundle", str(bundle), "--config", str(cfg)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        self.port: int | None = None
        ready = threading.Event()

        def pump() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line)
                m = re.search(r"on port (\d+)", line)
                if m and self.port is None:
                    self.port = int(m.group(1))
                    ready.set()
            ready.set()

        self.reader = threading.Thread(target=pump, daemon=True)
        self.reader.start()
        if not ready.wait(timeout_s) or self.port is None:
            self.stop()
            raise RuntimeError("fulcrum serve did not start:\n" + "".join(self.lines[-40:]))
        self.ready_s = time.perf_counter() - self.started

    def load_seconds(self) -> float | None:
        for line in self.lines:
            m = re.search(r"loaded from .* in ([0-9.]+) s", line)
            if m:
                return float(m.group(1))
        return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _event(pb, event_id: str, user: str, item: str, kind, ts_ms: int, text: str = ""):
    return pb.Event(
        event_id=event_id, type=kind, user_id=user, item_id=item, quantity=1.0, price=1.0,
        timestamp_ms=ts_ms, item_text=text,
    )


def percentiles(samples: list[float]) -> dict:
    a = np.asarray(samples) * 1000.0
    return {"n": len(a), "p50_ms": round(float(np.percentile(a, 50)), 2),
            "p99_ms": round(float(np.percentile(a, 99)), 2), "mean_ms": round(float(a.mean()), 2)}


def measure(
    bundle: Path, work: Path, item_ids: list[str], words: list[str], requests: int, users: int,
    upserts: int, ann_min_items: int, seed: int,
) -> dict:
    from fulcrum.client.recommender import FulcrumClient
    from fulcrum.v1 import recommender_pb2 as pb

    rng = np.random.default_rng(seed)
    server = Server(bundle, work, f"ann_min_items: {ann_min_items}\n")
    try:
        out: dict = {"ready_s": round(server.ready_s, 2), "load_s": server.load_seconds(),
                     "rss_after_load_mib": round(rss_mib(server.proc.pid), 1)}
        client = FulcrumClient(f"127.0.0.1:{server.port}")
        now_ms = int(time.time() * 1000)
        events = []
        for u in range(users):  # 20 purchases each, popular-biased (Zipf over the catalogue rows)
            rows = np.minimum(rng.zipf(1.3, 20) - 1, len(item_ids) - 1)
            for j, r in enumerate(rows):
                events.append(_event(pb, f"b{u}-{j}", f"bench-{u}", item_ids[int(r)], pb.PURCHASE,
                                     now_ms - 86_400_000 * (20 - j)))
        summary = client.ingest_events(events, timeout=120)
        out["users_ingested_events"] = int(summary.accepted)
        queries = [" ".join(rng.choice(words, size=int(rng.integers(1, 4)))).lower() for _ in range(requests)]
        for u in range(min(users, 20)):  # warm-up: sessions, caches, first-call paths
            client.recommend(f"bench-{u}", 10, timeout=30)
            client.search(queries[u % len(queries)] + " warm", 10, timeout=30)
        rec, sea = [], []
        for i in range(requests):
            t = time.perf_counter()
            reply = client.recommend(f"bench-{i % users}", 10, timeout=30)
            rec.append(time.perf_counter() - t)
            if reply.degraded:
                raise RuntimeError(f"Recommend answered degraded: {reply.degraded_reason}")
        for q in queries:
            t = time.perf_counter()
            client.search(q, 10, timeout=30)
            sea.append(time.perf_counter() - t)
        out["recommend"] = percentiles(rec)
        out["search"] = percentiles(sea)
        out["rss_after_requests_mib"] = round(rss_mib(server.proc.pid), 1)
        size0 = int(client.get_model_info(timeout=30).catalogue_size)
        batch = 50
        t = time.perf_counter()
        for b in range(0, upserts, batch):
            ups = [
                _event(pb, f"up-{j}", "", f"NEW{j:07d}", pb.ITEM_UPSERT, now_ms,
                       " ".join(rng.choice(words, size=4)))
                for j in range(b, min(upserts, b + batch))
            ]
            client.ingest_events(ups, timeout=300)
        deadline = time.monotonic() + 600
        while int(client.get_model_info(timeout=30).catalogue_size) < size0 + upserts:
            if time.monotonic() > deadline:
                raise RuntimeError("the upserted items never showed in the catalogue")
            time.sleep(0.05)
        secs = time.perf_counter() - t
        out["upserts"] = {"items": upserts, "seconds": round(secs, 2), "per_s": round(upserts / secs, 1)}
        out["rss_end_mib"] = round(rss_mib(server.proc.pid), 1)
        out["retrieval"] = "ANN" if any("retrieval ANN" in line for line in server.lines) else "exact"
        client.close()
        return out
    finally:
        server.stop()
        (work / "serve.log").write_text("".join(server.lines))
