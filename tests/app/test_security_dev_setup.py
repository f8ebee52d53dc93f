"""`fulcrum security dev-setup`: its serve.yaml starts a TLS server that its tokens and client
certificates can use, each for its own role only."""

from __future__ import annotations

import asyncio
import stat
import subprocess
import sys

import grpc
import pytest

from fulcrum.v1 import recommender_pb2 as pb
from fulcrum.v1 import recommender_pb2_grpc
from online.config import load_config
from online.server.app import create_server
from online.server.feature_source import InMemoryFeatures
from tests.serving_helpers import make_bundle


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    out = tmp_path_factory.mktemp("dev")
    run = subprocess.run(
        [sys.executable, "-m", "fulcrum.cli", "security", "dev-setup", "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return out


def test_files_and_permissions(dev):
    for role in ("recommend", "ingest", "admin"):
        token = (dev / "tokens" / f"{role}.token").read_text().strip()
        assert len(token) >= 40 and token not in (dev / "tokens.yaml").read_text()  # only digests
        assert stat.S_IMODE((dev / "tokens" / f"{role}.token").stat().st_mode) == 0o600
        assert (dev / "clients" / f"{role}.crt").is_file()
    for secret in ("ca.key", "server.key", "tokens.yaml"):
        assert stat.S_IMODE((dev / secret).stat().st_mode) == 0o600
    again = subprocess.run(
        [sys.executable, "-m", "fulcrum.cli", "security", "dev-setup", "--out", str(dev)],
        capture_output=True, text=True, timeout=120,
    )
    assert again.returncode == 2 and "--force" in again.stderr  # never overwrites silently


def test_its_serve_yaml_serves_each_role_over_tls(dev, tmp_path):
    bundle = make_bundle(tmp_path / "b")
    cfg = load_config(dev / "serve.yaml", env={}).model_copy(update={"port": 0})
    roles = ("recommend", "ingest", "admin")
    tokens = {r: (dev / "tokens" / f"{r}.token").read_text().strip() for r in roles}

    async def body():
        server, port = await create_server(cfg, bundle, InMemoryFeatures())
        await server.start()
        creds = grpc.ssl_channel_credentials((dev / "ca.crt").read_bytes())
        out = {}
        try:
            async with grpc.aio.secure_channel(f"localhost:{port}", creds) as channel:
                stub = recommender_pb2_grpc.RecommenderStub(channel)
                for role, token in tokens.items():
                    md = (("authorization", f"Bearer {token}"),)
                    try:
                        await stub.Recommend(pb.RecommendRequest(user_id="u", k=2), metadata=md, timeout=10)
                        out[role] = grpc.StatusCode.OK
                    except grpc.aio.AioRpcError as e:
                        out[role] = e.code()
        finally:
            await server.stop(0)
        return out

    got = asyncio.run(body())
    assert got == {
        "recommend": grpc.StatusCode.OK,
        "ingest": grpc.StatusCode.PERMISSION_DENIED,
        "admin": grpc.StatusCode.PERMISSION_DENIED,
    }


def test_hash_token_matches_the_server_side_digest():
    from online.security.tokens import hash_token

    run = subprocess.run(
        [sys.executable, "-m", "fulcrum.cli", "security", "hash-token"],
        input="s3cret-token\n", capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 0 and run.stdout.strip() == hash_token("s3cret-token")
    # hand-checked: sha256("abc") is the FIPS 180-2 test vector
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
