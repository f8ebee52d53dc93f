"""End to end on a real grpc.aio server (loopback, port 0) with a bundle and in-memory features.

The same scenarios run against a real Feast repo in tests/online/features/test_serve_feast.py.
"""

from __future__ import annotations

import asyncio
import time

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fulcrum.core.profile import UserProfile
from fulcrum.v1 import recommender_pb2 as pb
from online.config import ServeConfig
from online.server import metrics
from online.server.feature_source import InMemoryFeatures
from tests.fixtures.services import async_wait_until
from tests.serving_helpers import copy_bundle, make_bundle, serving

R = pb.Reason
NOW = time.time()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("bundle") / "b1", version="test-1")


@pytest.fixture(scope="module")
def items(bundle):
    import pandas as pd

    return pd.read_parquet(bundle / "items.parquet")


def warm_user(uid: str = "alice") -> UserProfile:
    hist = ("sku-004", "sku-008", "sku-012", "sku-001")
    return UserProfile(
        user_id=uid,
        recent_items=hist,
        recent_types=("PURCHASE", "PURCHASE", "VIEW", "PURCHASE"),
        recent_times=(NOW - 4e5, NOW - 3e5, NOW - 2e5, NOW - 1e5),
        purchase_count=3,
        distinct_items=3,
        last_active=NOW - 1e5,
        bought=frozenset({"sku-004", "sku-008", "sku-001"}),
        cancelled=frozenset({"sku-016"}),
        disliked=frozenset({"sku-020"}),
        ignored={"sku-024": 5, "sku-028": 1},
    )


def run(coro):
    return asyncio.run(coro)


def test_recommend_returns_k_items_none_bought(bundle):
    async def body():
        features = InMemoryFeatures([warm_user()])
        async with serving(bundle, features) as (stub, *_):
            req = pb.RecommendRequest(
                user_id="alice",
                k=8,
                session_item_ids=["sku-032"],
                exclude_item_ids=["sku-036"],
                options=pb.RecommendOptions(seed=1),
            )
            return await stub.Recommend(req)

    r = run(body())
    ids = [i.item_id for i in r.items]
    assert len(ids) == 8 and len(set(ids)) == 8
    # bought, cancelled, disliked, ignored >= 3 times, the session item and the exclude are all absent
    assert not set(ids) & {
        "sku-004",
        "sku-008",
        "sku-001",
        "sku-016",
        "sku-020",
        "sku-024",
        "sku-032",
        "sku-036",
    }
    reasons = [i.reason for i in r.items]
    assert reasons[0] == R.PERSONALISED and set(reasons) <= {R.PERSONALISED, R.EXPLORATION, R.NEW_ITEM}
    # default share 0.1 of 8 slots -> round(0.8) = 1 exploration slot at position 8 // 2 = 4
    assert sum(x != R.PERSONALISED for x in reasons) == 1 and reasons[4] != R.PERSONALISED
    assert r.bundle_version == "test-1" and not r.degraded


def test_repurchase_allowed_per_request(bundle):
    async def body():
        features = InMemoryFeatures([warm_user()])
        async with serving(bundle, features) as (stub, *_):
            opts = pb.RecommendOptions(allow_repurchase=True, exploration_share=0, diversity=0)
            return await stub.Recommend(pb.RecommendRequest(user_id="alice", k=40, options=opts))

    ids = {i.item_id for i in run(body()).items}
    assert {"sku-004", "sku-008", "sku-001"} <= ids  # bought items come back
    assert not ids & {"sku-016", "sku-020", "sku-024"}  # cancelled/disliked/ignored do not


def test_unknown_user_is_cold_start_popularity(bundle):
    async def body():
        async with serving(bundle, InMemoryFeatures()) as (stub, *_):
            no_explore = pb.RecommendOptions(exploration_share=0, diversity=0)
            a = await stub.Recommend(pb.RecommendRequest(user_id="stranger", k=5, options=no_explore))
            b = await stub.Recommend(
                pb.RecommendRequest(
                    user_id="stranger", k=5, options=pb.RecommendOptions(seed=3, exploration_share=0.4)
                )
            )
            c = await stub.Recommend(
                pb.RecommendRequest(user_id="stranger", k=5, session_item_ids=["sku-010"], options=no_explore)
            )
            return a, b, c

    a, b, c = run(body())
    # popularity_rank = row index in the test bundle: sku-000 .. sku-004 are the five most popular
    assert [i.item_id for i in a.items] == [f"sku-{n:03d}" for n in range(5)]
    assert {i.reason for i in a.items} == {R.COLD_START}
    # exploration share 0.4 of 5 -> 2 slots at 5//3 = 1 and 10//3 = 3
    reasons = [i.reason for i in b.items]
    assert (
        reasons[0] == R.COLD_START
        and reasons[1] in (R.EXPLORATION, R.NEW_ITEM)
        and reasons[3] in (R.EXPLORATION, R.NEW_ITEM)
    )
    # with a session item the context changes the cold list, and the session item itself is not shown
    assert "sku-010" not in [i.item_id for i in c.items] and {i.reason for i in c.items} == {R.COLD_START}
    assert [i.item_id for i in c.items] != [i.item_id for i in a.items]


def test_seed_makes_exploration_reproducible(bundle):
    async def body():
        features = InMemoryFeatures([warm_user()])
        async with serving(bundle, features) as (stub, *_):
            opts = pb.RecommendOptions(seed=42, exploration_share=0.5)
            req = pb.RecommendRequest(user_id="alice", k=6, options=opts)
            return [await stub.Recommend(req) for _ in range(2)]

    a, b = run(body())
    assert [i.item_id for i in a.items] == [i.item_id for i in b.items]
    assert sum(i.reason in (R.EXPLORATION, R.NEW_ITEM) for i in a.items) == 3  # 0.5 * 6


def test_search_exact_text_ranks_its_item_first(bundle, items):
    async def body():
        async with serving(bundle, InMemoryFeatures([warm_user()])) as (stub, *_):
            out = {}
            for row in items.head(12).itertuples():
                out[row.item_id] = await stub.Search(pb.SearchRequest(query=row.text.upper(), k=5))
            priced = await stub.Search(
                pb.SearchRequest(
                    query=items.text[3],
                    k=10,
                    filters=pb.SearchFilters(min_price=2, max_price=4, exclude_item_ids=["sku-009"]),
                )
            )
            personal = await stub.Search(pb.SearchRequest(query=items.text[4], k=40, user_id="alice"))
            return out, priced, personal

    out, priced, personal = run(body())
    for item_id, r in out.items():
        assert r.items[0].item_id == item_id and r.items[0].reason == R.QUERY_MATCH
        # identical text -> cosine 1, the query's highest BM25 score and every query word: the
        # highest score of the default weighted fusion, w * 1 + (1 - w) * 1 + coverage_weight * 1;
        # scores never increase down the list
        cfg = ServeConfig()
        assert cfg.search_fusion == "weighted"
        assert r.items[0].score == pytest.approx(1.0 + cfg.search_coverage_weight, abs=1e-4)
        assert all(a.score >= b.score for a, b in zip(r.items, r.items[1:], strict=False))
    price = dict(zip(items.item_id, items.price, strict=True))
    assert priced.items and all(2 <= price[i.item_id] <= 4 for i in priced.items)
    assert "sku-009" not in [i.item_id for i in priced.items]
    # alice bought sku-004: even an exact-text query does not return it to her
    assert "sku-004" not in [i.item_id for i in personal.items]


BAD = [
    ("Recommend", pb.RecommendRequest(user_id="", k=5), "user_id"),
    ("Recommend", pb.RecommendRequest(user_id="u" * 129, k=5), "user_id"),
    ("Recommend", pb.RecommendRequest(user_id="u", k=0), "k"),
    ("Recommend", pb.RecommendRequest(user_id="u", k=101), "k"),
    ("Recommend", pb.RecommendRequest(user_id="u", k=5, session_item_ids=[""]), "session_item_ids[0]"),
    ("Recommend", pb.RecommendRequest(user_id="u", k=5, exclude_item_ids=["x" * 300]), "exclude_item_ids[0]"),
    (
        "Recommend",
        pb.RecommendRequest(user_id="u", k=5, options=pb.RecommendOptions(diversity=3)),
        "options.diversity",
    ),
    ("Search", pb.SearchRequest(query="", k=5), "query"),
    ("Search", pb.SearchRequest(query="x" * 257, k=5), "query"),
    ("Search", pb.SearchRequest(query="bag", k=-2), "k"),
    ("Search", pb.SearchRequest(query="bag", k=5, user_id="u" * 200), "user_id"),
    (
        "Search",
        pb.SearchRequest(query="bag", k=5, filters=pb.SearchFilters(min_price=9, max_price=1)),
        "filters.min_price",
    ),
]


def test_every_bad_input_is_invalid_argument_naming_the_field(bundle):
    async def body():
        got = []
        async with serving(bundle, InMemoryFeatures()) as (stub, *_):
            for method, req, _ in BAD:
                with pytest.raises(grpc.aio.AioRpcError) as e:
                    await getattr(stub, method)(req)
                got.append((e.value.code(), e.value.details()))
            # an event stream in which every event is bad (unknown type) is rejected as a whole
            bad_event = pb.Event(
                event_id="e1", type=99, user_id="u", item_id="i", timestamp_ms=int(NOW * 1000)
            )
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await stub.IngestEvents(iter([bad_event]))
            got.append((e.value.code(), e.value.details()))
        return got

    got = run(body())
    for (code, details), field in zip(got, [f for *_, f in BAD] + ["type"], strict=True):
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert details.startswith(f"{field}:"), details


def test_feature_store_failure_and_timeout_degrade_to_popularity(bundle):
    def fallbacks(reason: str) -> float:
        return metrics.FALLBACKS.labels("Recommend", reason)._value.get()

    async def body():
        features = InMemoryFeatures([warm_user()])
        async with serving(bundle, features, feature_timeout_ms=50) as (stub, *_):
            features.fail = True
            failed = await stub.Recommend(
                pb.RecommendRequest(user_id="alice", k=4, exclude_item_ids=["sku-000"])
            )
            # the store now takes 3 s, longer than the client's 2 s deadline: a reply at all (not
            # DEADLINE_EXCEEDED) means the server answered without waiting for the store
            features.fail, features.delay_s = False, 3.0
            slow = await stub.Recommend(pb.RecommendRequest(user_id="alice", k=4), timeout=2.0)
            searched = await stub.Search(pb.SearchRequest(query="red", user_id="alice", k=3), timeout=2.0)
            return failed, slow, searched

    before = (fallbacks("feature_store_unavailable"), fallbacks("feature_store_timeout"))
    failed, slow, searched = run(body())
    assert failed.degraded and failed.degraded_reason == "feature_store_unavailable"
    assert [i.item_id for i in failed.items] == [
        "sku-001",
        "sku-002",
        "sku-003",
        "sku-004",
    ]  # popular, minus exclude
    assert {i.reason for i in failed.items} == {R.POPULAR}
    assert slow.degraded and slow.degraded_reason == "feature_store_timeout" and len(slow.items) == 4
    assert searched.degraded and len(searched.items) == 3  # search still answers, unpersonalised
    assert fallbacks("feature_store_unavailable") == before[0] + 1
    assert fallbacks("feature_store_timeout") == before[1] + 1


def test_client_deadline_is_honoured(bundle):
    async def body():
        features = InMemoryFeatures([warm_user()])
        features.delay_s = 3.0
        async with serving(bundle, features, feature_timeout_ms=10_000) as (stub, *_):
            # the store takes 3 s and the server's own budget is 10 s: only the client's 0.5 s
            # deadline can make the server give up early, and a reply (not DEADLINE_EXCEEDED)
            # proves it did so in time
            return await stub.Recommend(pb.RecommendRequest(user_id="alice", k=3), timeout=0.5)

    r = run(body())
    # the feature read gets half the remaining budget (~0.25 s), then the popularity fallback answers
    assert r.degraded and r.degraded_reason == "feature_store_timeout" and len(r.items) == 3


def test_ingest_upsert_purchase_duplicates_and_rejections(bundle):
    ms = int(NOW * 1000)

    async def body():
        features = InMemoryFeatures([warm_user("bob")])
        async with serving(bundle, features, sink=features) as (stub, *_):
            before = await stub.GetModelInfo(pb.GetModelInfoRequest())
            first = await stub.Recommend(
                pb.RecommendRequest(
                    user_id="bob", k=3, options=pb.RecommendOptions(exploration_share=0, diversity=0)
                )
            )
            top = first.items[0].item_id
            events = [
                pb.Event(
                    event_id="up-1",
                    type=pb.ITEM_UPSERT,
                    item_id="new-1",
                    item_text="jumbo party lantern",
                    price=3.0,
                    timestamp_ms=ms,
                ),
                pb.Event(
                    event_id="buy-1",
                    type=pb.PURCHASE,
                    user_id="bob",
                    item_id=top,
                    quantity=1,
                    price=2.0,
                    timestamp_ms=ms,
                ),
                pb.Event(event_id="bad-1", type=pb.PURCHASE, user_id="", item_id="x", timestamp_ms=ms),
            ]
            summary = await stub.IngestEvents(iter(events))
            again = await stub.IngestEvents(iter(events[:2]))
            after = await stub.GetModelInfo(pb.GetModelInfoRequest())
            found = await stub.Search(pb.SearchRequest(query="Jumbo  Party Lantern", k=3))
            second = await stub.Recommend(
                pb.RecommendRequest(
                    user_id="bob", k=3, options=pb.RecommendOptions(exploration_share=0, diversity=0)
                )
            )
            return before, summary, again, after, found, second, top

    before, summary, again, after, found, second, top = run(body())
    assert (summary.accepted, summary.rejected, summary.duplicates) == (2, 1, 0)
    assert summary.rejections[0].event_id == "bad-1" and summary.rejections[0].reason.startswith("user_id:")
    assert (again.accepted, again.duplicates) == (0, 2)
    assert after.catalogue_size == before.catalogue_size + 1
    assert found.items[0].item_id == "new-1"  # the upserted item is retrievable at once
    assert top not in [i.item_id for i in second.items]  # bought through IngestEvents: no longer recommended


def test_reload_under_load_has_zero_failed_calls_and_refuses_a_bad_bundle(bundle, tmp_path):
    v2 = make_bundle(tmp_path / "b2", version="test-2", seed=1)
    broken = copy_bundle(v2, tmp_path / "broken")
    emb = np.load(broken / "item_embeddings.npy")
    np.save(broken / "item_embeddings.npy", emb * 0.5)  # content changed, manifest not

    async def body():
        features = InMemoryFeatures([warm_user()])
        async with serving(bundle, features, bundles_root=str(tmp_path)) as (stub, server, *_):
            stop = asyncio.Event()
            versions: set[str] = set()
            errors: list[BaseException] = []
            calls = 0

            async def client(i: int):
                nonlocal calls
                while not stop.is_set():
                    try:
                        if i % 2:
                            r = await stub.Recommend(pb.RecommendRequest(user_id="alice", k=5), timeout=5)
                        else:
                            r = await stub.Search(pb.SearchRequest(query="red heart", k=5), timeout=5)
                        versions.add(r.bundle_version)
                        calls += 1
                    except Exception as e:  # any failure is a test failure
                        errors.append(e)

            tasks = [asyncio.create_task(client(i)) for i in range(8)]
            await async_wait_until(lambda: calls >= 40, 120, what=f"40 calls (errors: {errors[:3]})")
            swapped = await stub.ReloadModel(pb.ReloadModelRequest(version="b2"))
            mark = calls
            await async_wait_until(lambda: calls >= mark + 40, 120, what="40 calls after the swap")
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ReloadModel(pb.ReloadModelRequest(version="broken"))
            with pytest.raises(grpc.aio.AioRpcError) as missing:
                await stub.ReloadModel(pb.ReloadModelRequest(version="nowhere"))
            mark = calls
            await async_wait_until(lambda: calls >= mark + 40, 120, what="40 calls after the refusals")
            stop.set()
            await asyncio.gather(*tasks)
            info = await stub.GetModelInfo(pb.GetModelInfoRequest())
            return swapped, refused.value, missing.value, versions, errors, info, calls

    swapped, refused, missing, versions, errors, info, calls = run(body())
    assert errors == [] and calls >= 120
    assert (swapped.bundle_version, swapped.previous_version) == ("test-2", "test-1")
    assert versions == {"test-1", "test-2"}
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION and "sha256" in refused.details()
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    assert info.bundle_version == "test-2" and info.execution_provider == "CPUExecutionProvider"
    assert '"ndcg@10": 0.1' in info.metrics_json


def test_health_request_id_reflection_metrics_and_graceful_shutdown(bundle):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    async def body():
        async with serving(bundle, InMemoryFeatures()) as (stub, server, port, channel):
            health = health_pb2_grpc.HealthStub(channel)
            serving_status = await health.Check(
                health_pb2.HealthCheckRequest(service="fulcrum.v1.Recommender")
            )
            call = stub.Recommend(
                pb.RecommendRequest(user_id="zed", k=2), metadata=(("x-request-id", "req-42"),)
            )
            await call
            trailing = dict(await call.trailing_metadata())
            refl = reflection_pb2_grpc.ServerReflectionStub(channel)
            responses = refl.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")])
            )
            services = [s.name async for r in responses for s in r.list_services_response.service]
            watch = health.Watch(health_pb2.HealthCheckRequest(service=""))
            first = await watch.read()
            stopping = asyncio.create_task(server.stop(1.0))
            second = await watch.read()
            await stopping
            return serving_status, trailing, services, first, second

    serving_status, trailing, services, first, second = run(body())
    assert serving_status.status == health_pb2.HealthCheckResponse.SERVING
    assert trailing.get("x-request-id") == "req-42"
    assert "fulcrum.v1.Recommender" in services and "grpc.health.v1.Health" in services
    assert first.status == health_pb2.HealthCheckResponse.SERVING
    assert second.status == health_pb2.HealthCheckResponse.NOT_SERVING  # before the grace period ends
    count = sum(
        s.value
        for s in metrics.LATENCY.collect()[0].samples
        if s.name.endswith("_count") and s.labels == {"method": "Recommend", "code": "OK"}
    )
    assert count >= 1


def test_upserted_items_survive_a_reload(bundle, tmp_path):
    make_bundle(tmp_path / "b2", version="test-2", seed=1)
    ms = int(NOW * 1000)

    async def body():
        async with serving(bundle, InMemoryFeatures(), bundles_root=str(tmp_path)) as (stub, *_):
            up = pb.Event(
                event_id="u1",
                type=pb.ITEM_UPSERT,
                item_id="late-1",
                item_text="pink bird house lantern",
                price=1.0,
                timestamp_ms=ms,
            )
            await stub.IngestEvents(iter([up]))
            await stub.ReloadModel(pb.ReloadModelRequest(version="b2"))
            info = await stub.GetModelInfo(pb.GetModelInfoRequest())
            found = await stub.Search(pb.SearchRequest(query="pink bird house lantern", k=1))
            return info, found

    info, found = run(body())
    # re-embedded with the new bundle's encoder: still the exact match
    assert info.bundle_version == "test-2" and info.catalogue_size == 41
    exact = 1.0 + ServeConfig().search_coverage_weight  # the weighted fusion's maximum
    assert found.items[0].item_id == "late-1" and found.items[0].score == pytest.approx(exact, abs=1e-4)


def test_metrics_http_endpoint_exposes_the_server_metrics(bundle):
    import urllib.request

    from online.server.metrics import start_metrics_http
    from tests.fixtures.services import free_port

    async def body():
        async with serving(bundle, InMemoryFeatures()) as (stub, *_):
            await stub.Recommend(pb.RecommendRequest(user_id="m", k=2))

    run(body())
    assert start_metrics_http(0) is None  # 0 disables the endpoint
    port = free_port()
    http = start_metrics_http(port, addr="127.0.0.1")
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    finally:
        http.shutdown()
    assert 'fulcrum_rpc_latency_seconds_count{code="OK",method="Recommend"}' in text
    assert "# TYPE fulcrum_batch_size histogram" in text and "# TYPE fulcrum_fallbacks_total counter" in text
