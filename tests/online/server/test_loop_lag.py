"""The event-loop lag probe (online/server/loop_lag.py): a loop blocked for a known time shows a
lag sample of at least that time minus the probe period, in the probe and in the Prometheus
histogram, on its own and inside a real server (where it is started and stopped with it)."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import REGISTRY

from fulcrum.v1 import recommender_pb2 as pb
from online.server.feature_source import InMemoryFeatures
from online.server.loop_lag import LoopLagProbe
from tests.serving_helpers import make_bundle, serving

BLOCK_S = 0.06
PERIOD_S = 0.005


def _above(le: str) -> float:
    """Samples of the histogram above the bucket bound ``le``."""
    count = REGISTRY.get_sample_value("fulcrum_event_loop_lag_seconds_count") or 0.0
    below = REGISTRY.get_sample_value("fulcrum_event_loop_lag_seconds_bucket", {"le": le}) or 0.0
    return count - below


async def _until(predicate, deadline_s: float = 10.0) -> None:
    end = time.monotonic() + deadline_s
    while not predicate():
        assert time.monotonic() < end, "the probe recorded nothing before the deadline"
        await asyncio.sleep(PERIOD_S)


async def _block_and_see(probe: LoopLagProbe) -> None:
    await _until(lambda: probe.samples >= 2)  # running
    above = _above("0.025")
    time.sleep(BLOCK_S)  # the stall: nothing else runs on this loop meanwhile
    # the stall covers the probe's next due wake-up: a sample of >= BLOCK_S - PERIOD_S (55 ms)
    await _until(lambda: probe.max_lag_s >= BLOCK_S - PERIOD_S)
    assert _above("0.025") - above >= 1  # and the histogram has it above the 25 ms bucket
    assert REGISTRY.get_sample_value("fulcrum_event_loop_lag_max_seconds") >= BLOCK_S - PERIOD_S


def test_a_blocked_loop_shows_as_lag():
    async def main():
        probe = LoopLagProbe(PERIOD_S)
        probe.start()
        try:
            await _block_and_see(probe)
        finally:
            await probe.stop()
        samples = probe.samples
        await asyncio.sleep(3 * PERIOD_S)
        assert probe.samples == samples  # stopped: no more samples

    asyncio.run(main())


def test_the_server_runs_the_probe_and_stops_it(tmp_path):
    bundle = make_bundle(tmp_path / "bundle")

    async def main():
        async with serving(bundle, InMemoryFeatures(), loop_lag_probe_ms=PERIOD_S * 1000) as (
            stub,
            server,
            _,
            _,
        ):
            probe = server.loop_lag
            assert probe is not None and probe.interval_s == PERIOD_S
            await stub.Recommend(pb.RecommendRequest(user_id="u", k=3))
            await _block_and_see(probe)
        assert server.loop_lag._task is None  # stopped with the server
        async with serving(bundle, InMemoryFeatures(), loop_lag_probe_ms=0) as (_, off, _, _):
            assert off.loop_lag is None

    asyncio.run(main())


def test_a_non_positive_period_is_refused():
    with pytest.raises(ValueError, match="must be > 0"):
        LoopLagProbe(0.0)
