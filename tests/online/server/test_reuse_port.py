"""`reuse_port: true`: two independent servers bind one port (SO_REUSEPORT), and when one of them
drains and stops, calls on fresh connections keep being answered by the other (the rolling
restart of docs/deployment.md, without a load balancer)."""

from __future__ import annotations

import asyncio
import socket
import sys

import grpc
import pytest

from fulcrum.v1 import recommender_pb2 as pb
from fulcrum.v1 import recommender_pb2_grpc
from online.config import build_config
from online.security.config import LOOPBACK_DEMO
from online.server.app import create_server
from online.server.feature_source import InMemoryFeatures
from tests.serving_helpers import make_bundle

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="SO_REUSEPORT spreading is Linux's"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _answers(target: str, calls: int) -> int:
    """Recommend on ``calls`` fresh channels (fresh connections); the number answered OK."""
    ok = 0
    for i in range(calls):
        async with grpc.aio.insecure_channel(target) as ch:
            reply = await recommender_pb2_grpc.RecommenderStub(ch).Recommend(
                pb.RecommendRequest(user_id=f"u{i}", k=2), timeout=10
            )
            ok += len(reply.items) == 2
    return ok


def test_two_servers_share_a_port_and_one_can_leave(tmp_path):
    bundle = make_bundle(tmp_path / "bundle")
    port = _free_port()

    async def main():
        def cfg(reuse: bool):
            values = {"host": "127.0.0.1", "port": port, "metrics_port": 0, "security": LOOPBACK_DEMO}
            return build_config({**values, "reuse_port": reuse}, env={})

        first, bound = await create_server(cfg(True), bundle, InMemoryFeatures())
        await first.start()
        second, bound2 = await create_server(cfg(True), bundle, InMemoryFeatures())  # same port
        await second.start()
        assert bound == bound2 == port
        try:
            assert await _answers(f"127.0.0.1:{port}", 6) == 6
            await first.stop(1.0)  # drains and stops listening; the second one keeps the port
            assert await _answers(f"127.0.0.1:{port}", 6) == 6
        finally:
            await second.stop(0)
        # without reuse_port a second server cannot bind a port in use: the one-writer default
        lone, _ = await create_server(cfg(False), bundle, InMemoryFeatures())
        await lone.start()
        try:
            with pytest.raises(Exception, match=str(port)):
                await create_server(cfg(False), bundle, InMemoryFeatures())
        finally:
            await lone.stop(0)

    asyncio.run(main())
