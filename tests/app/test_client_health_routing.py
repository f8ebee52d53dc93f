"""`FulcrumClient` over two real servers (port 0, round robin through its service config): calls
go only to the server whose health says SERVING for ``fulcrum.v1.Recommender``, and follow the
health when it flips (gRPC client-side health checking, ``healthCheckConfig``).

Each server serves a bundle with its own version, so GetModelInfo's answer names the server that
took the call. The servers run on this test's event loop; the blocking client runs in a thread.
"""

from __future__ import annotations

import asyncio
import json
import time

import grpc
from grpc_health.v1 import health_pb2

from fulcrum.client.recommender import FulcrumClient
from fulcrum.client.service_config import SERVICE, service_config
from fulcrum.v1 import recommender_pb2 as pb
from fulcrum.v1 import recommender_pb2_grpc
from online.config import build_config
from online.security.config import LOOPBACK_DEMO
from online.server.app import create_server
from online.server.feature_source import InMemoryFeatures
from tests.serving_helpers import make_bundle

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
CALLS = 12


def test_the_service_config_balances_round_robin_and_checks_health():
    config = service_config()
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    assert config["healthCheckConfig"] == {"serviceName": "fulcrum.v1.Recommender"}
    assert SERVICE == "fulcrum.v1.Recommender"  # the name online/server/app.py sets SERVING


def _versions(client: FulcrumClient, calls: int) -> list[str]:
    return [client.get_model_info(timeout=10).bundle_version for _ in range(calls)]


def _until(client: FulcrumClient, version: str, deadline_s: float = 30.0) -> None:
    """Poll until a call is answered by ``version`` (the channel has seen the health change)."""
    end = time.monotonic() + deadline_s
    while client.get_model_info(timeout=10).bundle_version != version:
        if time.monotonic() > end:
            raise AssertionError(f"no call reached {version} within {deadline_s} s")
        time.sleep(0.02)


def test_calls_reach_only_the_serving_server_and_follow_its_health(tmp_path):
    bundles = {v: make_bundle(tmp_path / v, version=v) for v in ("server-a", "server-b")}

    async def main():
        cfg = build_config(
            {"host": "127.0.0.1", "port": 0, "metrics_port": 0, "security": LOOPBACK_DEMO}, env={}
        )
        servers = {}
        for version, bundle in bundles.items():
            server, port = await create_server(cfg, bundle, InMemoryFeatures())
            await server.start()
            servers[version] = (server, port)
        a, b = servers["server-a"][0], servers["server-b"][0]
        target = "ipv4:" + ",".join(f"127.0.0.1:{port}" for _, port in servers.values())
        try:
            await b.health.set(SERVICE, NOT_SERVING)  # before the client connects
            with FulcrumClient(target) as client:
                # b's connection never turns READY while its health says NOT_SERVING
                assert set(await asyncio.to_thread(_versions, client, CALLS)) == {"server-a"}

                await a.health.set(SERVICE, NOT_SERVING)
                await b.health.set(SERVICE, SERVING)
                await asyncio.to_thread(_until, client, "server-b")
                assert set(await asyncio.to_thread(_versions, client, CALLS)) == {"server-b"}

                await a.health.set(SERVICE, SERVING)  # both healthy: round robin uses both
                await asyncio.to_thread(_until, client, "server-a")
                both = await asyncio.to_thread(_versions, client, CALLS)
                assert set(both) == {"server-a", "server-b"}

            # the control: the same round robin without health checking sends calls to a
            # NOT_SERVING server (what the healthCheckConfig above prevents)
            await b.health.set(SERVICE, NOT_SERVING)
            unchecked = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})
            with grpc.insecure_channel(target, options=[("grpc.service_config", unchecked)]) as ch:
                stub = recommender_pb2_grpc.RecommenderStub(ch)

                def reaches_b() -> bool:
                    end = time.monotonic() + 30
                    while time.monotonic() < end:
                        reply = stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=10)
                        if reply.bundle_version == "server-b":
                            return True
                    return False

                assert await asyncio.to_thread(reaches_b)
        finally:
            for server, _ in servers.values():
                await server.stop(0)

    asyncio.run(main())
