"""Liveness and readiness of `fulcrum ingest` for Kubernetes probes (``--health-port``).

- ``/livez``: the consume loop is turning -- an iteration (poll, apply, commit or back-off) began
  within ``stall_s``. A wedged loop (a hung call, a deadlock) fails it and the pod is restarted.
  A store that is down does NOT fail it: the loop keeps backing off, and a restart cannot help.
- ``/readyz``: the consumer is doing its job -- it joined the group (an assignment arrived, even
  an empty one for a hot spare beyond the partition count) and it is not stuck: either nothing
  is waiting for it (lag 0) or it committed within ``stall_s``. A consumer whose sink has been
  failing for longer is not ready (visible in ``kubectl get pods`` and to the alert rules) but
  keeps running.

Both answer 200 with "ok" or 503 with the reason, on a small HTTP server in a daemon thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_STALL_S = 300.0


class IngestHealth:
    """Reads the consumer's progress stamps (``last_iteration``, ``last_commit``, ``joined``,
    ``lag``); ``clock`` is ``time.monotonic`` (the consumer stamps with it too)."""

    def __init__(
        self, consumer: Any, stall_s: float = DEFAULT_STALL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if stall_s <= 0:
            raise ValueError(f"stall_s: must be > 0, got {stall_s}")
        self.consumer = consumer
        self.stall_s = stall_s
        self.clock = clock

    def live(self) -> tuple[bool, str]:
        since = self.clock() - self.consumer.last_iteration
        if since > self.stall_s:
            return False, f"the consume loop has not turned for {since:.0f}s (limit {self.stall_s:.0f}s)"
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        c = self.consumer
        if not c.joined:
            return False, "not in the consumer group yet (no assignment)"
        if c.lag > 0 and self.clock() - c.last_commit > self.stall_s:
            return False, (
                f"{c.lag} records waiting and nothing committed for {self.clock() - c.last_commit:.0f}s "
                f"({c.retries} retries: is the store or the DLQ down?)"
            )
        return True, "ok"


def serve_health(port: int, health: IngestHealth, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Start /livez and /readyz on ``port`` (0 = any free port: ``server.server_address[1]``)."""
    checks = {"/livez": health.live, "/readyz": health.ready}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            check = checks.get(self.path.split("?", 1)[0])
            if check is None:
                self.send_error(404)
                return
            ok, why = check()
            body = (why + "\n").encode()
            self.send_response(200 if ok else 503)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the http.server API
            log.debug("health: " + format, *args)

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="ingest-health", daemon=True).start()
    log.info("health on :%d (/livez, /readyz)", server.server_address[1])
    return server
