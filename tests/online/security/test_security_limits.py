"""Server limits on a real server: an oversize message, too many concurrent calls, an endless
IngestEvents stream (too many events, open too long, too many streams) -> RESOURCE_EXHAUSTED,
and the server keeps serving the others."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from fulcrum.v1 import recommender_pb2 as pb
from online.security.limits import LimitsConfig, server_options
from online.server.feature_source import InMemoryFeatures
from tests.serving_helpers import make_bundle, serving

EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
NOW_MS = int(time.time() * 1000)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("limits") / "b1", version="test-1")


def _view(i: int) -> pb.Event:
    return pb.Event(event_id=f"e{i}", type=pb.VIEW, user_id="u1", item_id="sku-001", timestamp_ms=NOW_MS)


async def _code(awaitable) -> grpc.StatusCode:
    try:
        await awaitable
        return grpc.StatusCode.OK
    except grpc.aio.AioRpcError as e:
        return e.code()


async def _still_serving(stub) -> bool:
    reply = await stub.Recommend(pb.RecommendRequest(user_id="u1", k=2), timeout=10)
    return len(reply.items) == 2


def test_server_options_are_explicit():
    options = dict(server_options(LimitsConfig(max_receive_message_bytes=2048, max_connection_age_s=90)))
    assert options["grpc.max_receive_message_length"] == 2048
    assert options["grpc.max_connection_age_ms"] == 90_000
    assert options["grpc.keepalive_time_ms"] == 60_000


def test_an_oversize_message_is_refused(bundle):
    async def body():
        async with serving(bundle, InMemoryFeatures(), limits={"max_receive_message_bytes": 64 * 1024}) as (
            stub, *_
        ):
            excluded = [f"sku-{i:08d}" for i in range(20_000)]  # ~300 KB
            big = pb.RecommendRequest(user_id="u1", k=2, exclude_item_ids=excluded)
            return await _code(stub.Recommend(big, timeout=10)), await _still_serving(stub)

    code, ok = asyncio.run(body())
    assert code == EXHAUSTED and ok


def test_too_many_concurrent_calls_are_refused(bundle):
    async def body():
        limits = {"max_concurrent_rpcs": 2, "ingest_max_streams": 10}
        async with serving(bundle, InMemoryFeatures(), limits=limits) as (stub, server, *_):
            held = [stub.IngestEvents(timeout=30) for _ in range(2)]  # two open streams
            for call in held:
                await call.write(_view(0))
            deadline = time.monotonic() + 10
            while server.servicer.ingest_streams.open < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            third = await _code(stub.Recommend(pb.RecommendRequest(user_id="u1", k=2), timeout=10))
            for call in held:
                await call.done_writing()
            finished = [await _code(call) for call in held]
            return third, finished, await _still_serving(stub)

    third, finished, ok = asyncio.run(body())
    assert third == EXHAUSTED and finished == [grpc.StatusCode.OK] * 2 and ok


def test_endless_ingest_streams_are_cut(bundle):
    async def body():
        limits = {"ingest_max_stream_events": 50, "ingest_max_streams": 1, "ingest_stream_timeout_s": 1.0}
        features = InMemoryFeatures()
        async with serving(bundle, features, sink=features, limits=limits) as (stub, server, *_):
            async def endless():
                i = 0
                while True:
                    i += 1
                    yield _view(i)

            too_many = await _code(stub.IngestEvents(endless(), timeout=30))
            # the events before the cap were applied: resending them finds only duplicates
            again = await stub.IngestEvents(iter([_view(i) for i in range(1, 51)]), timeout=30)
            idle = stub.IngestEvents(timeout=30)  # opens, sends one event, then nothing
            await idle.write(_view(1000))
            deadline = time.monotonic() + 10
            while server.servicer.ingest_streams.open < 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            second_stream = await _code(stub.IngestEvents(iter([_view(2000)]), timeout=30))
            serving_meanwhile = await _still_serving(stub)
            too_long = await _code(idle)  # cut by the server-side deadline
            after = await stub.IngestEvents(iter([_view(3000)]), timeout=30)  # the slot is free again
            return too_many, again, second_stream, serving_meanwhile, too_long, after

    too_many, again, second_stream, serving_meanwhile, too_long, after = asyncio.run(body())
    assert too_many == EXHAUSTED
    assert (again.accepted, again.duplicates) == (0, 50)
    assert second_stream == EXHAUSTED and serving_meanwhile
    assert too_long == EXHAUSTED
    assert after.accepted == 1


def test_rejection_metric_labels_come_from_a_fixed_set():
    """An unknown JSON key is the sender's text: a thousand different keys give one label."""
    import json

    from fulcrum.core.events import InvalidEvent, event_from_json

    codes = set()
    for i in range(1000):
        doc = {"event_id": f"e{i}", "type": "VIEW", "user_id": "u", "item_id": "i",
               "timestamp_ms": NOW_MS, f"attacker_key_{i}": 1}
        with pytest.raises(InvalidEvent) as e:
            event_from_json(json.dumps(doc), now_ms=NOW_MS)
        assert f"attacker_key_{i}" in str(e.value)  # the message still names the key
        codes.add(e.value.code)
    assert codes == {"unknown:unknown_field"}


def test_max_k_is_bounded_by_the_mmr_pool():
    from fulcrum.core.errors import ConfigError
    from fulcrum.core.rerank.diversity import POOL_PER_SLOT
    from online.config import build_config
    from online.security.limits import MAX_MMR_POOL

    largest = MAX_MMR_POOL // POOL_PER_SLOT  # 4096 // 5 = 819 slots -> a pool of 4095
    wide = {"retrieval_candidates": 100_000, "ann_pool": 100_000}  # the ANN pool must hold the candidates
    assert build_config({"max_k": largest, **wide}, env={}).max_k == largest
    with pytest.raises(ConfigError, match="MMR pool of 4100 > 4096"):
        build_config({"max_k": largest + 1, **wide}, env={})
    # fewer candidates than the pool would take: k can be larger, the pool stays small
    assert build_config({"max_k": 5000, "retrieval_candidates": 2000, "ann_pool": 2000}, env={}).max_k == 5000
