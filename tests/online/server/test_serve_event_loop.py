"""`event_loop: uvloop`: the server factory and a real Recommend on uvloop's loop (the optional
extra), and the loop factory `fulcrum serve` picks per setting."""

from __future__ import annotations

import asyncio

import pytest

from fulcrum.core.errors import ConfigError
from fulcrum.v1 import recommender_pb2 as pb
from online.config import build_config
from online.server.command import _loop_factory
from online.server.feature_source import InMemoryFeatures
from tests.serving_helpers import make_bundle, serving


def test_the_setting_picks_the_loop_and_is_validated():
    assert _loop_factory("asyncio") is None  # asyncio.Runner's default loop
    with pytest.raises(ConfigError, match="event_loop"):
        build_config({"event_loop": "trio"}, env={})


def test_a_server_answers_on_uvloop(tmp_path):
    uvloop = pytest.importorskip("uvloop", reason="the optional uvloop extra")
    assert _loop_factory("uvloop") is uvloop.new_event_loop
    bundle = make_bundle(tmp_path / "bundle")

    async def main():
        assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")
        async with serving(bundle, InMemoryFeatures(), event_loop="uvloop") as (stub, _, _, _):
            reply = await stub.Recommend(pb.RecommendRequest(user_id="u", k=3))
        return reply

    with asyncio.Runner(loop_factory=_loop_factory("uvloop")) as runner:
        assert len(runner.run(main()).items) == 3
