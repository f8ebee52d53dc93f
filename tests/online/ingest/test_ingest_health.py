"""`fulcrum ingest --health-port`: /livez fails only when the loop is wedged, /readyz when the
consumer is not in its group or has records waiting and committed nothing for too long."""

from __future__ import annotations

import urllib.error
import urllib.request
from types import SimpleNamespace

from online.ingest.health import IngestHealth, serve_health


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_probes_follow_the_consumers_progress() -> None:
    now = [1000.0]
    consumer = SimpleNamespace(last_iteration=1000.0, last_commit=1000.0, joined=False, lag=0, retries=0)
    server = serve_health(0, IngestHealth(consumer, stall_s=60, clock=lambda: now[0]), host="127.0.0.1")
    port = server.server_address[1]
    try:
        assert get(port, "/livez") == (200, "ok\n")
        code, why = get(port, "/readyz")
        assert code == 503 and "consumer group" in why  # no assignment yet
        consumer.joined = True
        assert get(port, "/readyz") == (200, "ok\n")
        # the store is down: the loop keeps turning (live) but commits nothing while lag grows
        now[0] += 120
        consumer.last_iteration, consumer.lag, consumer.retries = now[0], 500, 14
        assert get(port, "/livez")[0] == 200
        code, why = get(port, "/readyz")
        assert code == 503 and "500 records waiting" in why and "14 retries" in why
        # caught up again
        consumer.lag, consumer.last_commit = 0, now[0]
        assert get(port, "/readyz")[0] == 200
        # a wedged loop: not live
        now[0] += 61
        code, why = get(port, "/livez")
        assert code == 503 and "has not turned for 61s" in why
        assert get(port, "/nowhere")[0] == 404
    finally:
        server.shutdown()
