"""Helpers for the serving tests: a real grpc.aio server on loopback port 0, and a test bundle."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import grpc

from fulcrum.v1 import recommender_pb2_grpc
from online.config import build_config
from online.security.config import LOOPBACK_DEMO
from online.server.app import create_server


def make_bundle(out: Path, version: str = "test-1", seed: int = 0) -> Path:
    """The tiny trained bundle when the offline side provides it, else the minimal ONNX one."""
    from tests.fixtures.minimal_bundle import build_minimal_bundle

    return build_minimal_bundle(out, version=version, seed=seed)


def copy_bundle(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


@contextlib.asynccontextmanager
async def serving(bundle: Path, features, sink=None, **config):
    """Yields (stub, server, port, channel); stops the server (grace 0) afterwards."""
    config.setdefault("security", LOOPBACK_DEMO)
    cfg = build_config({"host": "127.0.0.1", "port": 0, "metrics_port": 0, **config}, env={})
    server, port = await create_server(cfg, bundle, features, sink)
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield recommender_pb2_grpc.RecommenderStub(channel), server, port, channel
    finally:
        await channel.close()
        await server.stop(0)
