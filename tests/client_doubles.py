"""A fault-injecting test double in front of the real server, for the client tests.

``FlakyFront`` serves ``fulcrum.v1.Recommender`` on a loopback port: GetModelInfo and Recommend
answer the first ``failures`` attempts with ``code`` (or block until released, for deadlines)
and forward the rest to the real `fulcrum serve`. It only exists to make the CLIENT's retry
and deadline behaviour observable; every answer that succeeds comes from the real server.
"""

from __future__ import annotations

import threading
from concurrent import futures

import grpc

from fulcrum.v1 import recommender_pb2_grpc


class FlakyFront(recommender_pb2_grpc.RecommenderServicer):
    def __init__(self, upstream: str, failures: int = 0, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE):
        self.failures = failures
        self.code = code
        self.block = False
        self.release = threading.Event()
        self.attempts = 0
        #: seconds left on each attempt's deadline (None: the call had none)
        self.time_remaining: list[float | None] = []
        #: the invocation metadata of each attempt
        self.metadata: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._upstream_channel = grpc.insecure_channel(upstream)
        self._upstream = recommender_pb2_grpc.RecommenderStub(self._upstream_channel)
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        recommender_pb2_grpc.add_RecommenderServicer_to_server(self, self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    def __enter__(self) -> FlakyFront:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._server.stop(0)
        self._upstream_channel.close()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _attempt(self, context) -> None:
        with self._lock:
            self.attempts += 1
            n = self.attempts
            self.time_remaining.append(context.time_remaining())
            self.metadata.append(dict(context.invocation_metadata()))
        if self.block:
            self.release.wait(timeout=60)
        if n <= self.failures:
            context.abort(self.code, f"injected failure {n} of {self.failures}")

    def GetModelInfo(self, request, context):
        self._attempt(context)
        return self._upstream.GetModelInfo(request, timeout=10)

    def Recommend(self, request, context):
        self._attempt(context)
        return self._upstream.Recommend(request, timeout=10)
