"""End to end with the REAL pieces: the tiny bundle built by the offline train + export code, a
real Feast repo (copied, applied, materialised; SQLite and Redis) and a real grpc.aio server on
port 0. Purchases ingested through IngestEvents reach Feast and the next Recommend."""

from __future__ import annotations

import asyncio
import json
import shutil
import time

import grpc
import numpy as np
import pandas as pd
import pytest

from fulcrum.v1 import recommender_pb2 as pb
from tests.fixtures.services import async_wait_until
from tests.serving_helpers import serving

pytest.importorskip("feast")
R = pb.Reason
STORES = ["sqlite", pytest.param("redis", marks=pytest.mark.redis)]


@pytest.fixture(scope="module", params=STORES)
def feast_side(request, tiny_bundle, tmp_path_factory):
    """(events, repo, client) with the tiny bundle's synthetic shop materialised into Feast."""
    from offline.features.pipeline import build_features
    from online.features.client import OnlineFeatureClient
    from tests.feature_repo_copy import copy_repo

    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    data = tiny_bundle.parent.parent / "data"
    events = pd.read_parquet(data / "events.parquet")
    repo = copy_repo(tmp_path_factory.mktemp("feast"))
    build_features(
        events,
        repo,
        items=pd.read_parquet(data / "items.parquet"),
        store=request.param,
        redis_url=url,
        bundle=tiny_bundle,
    )
    client = OnlineFeatureClient.open(repo, request.param, url, default_timeout_s=5.0)
    yield events, repo, client
    client.close()


def _source_and_sink(client):
    from online.features.sink import FeastEventSink
    from online.server.feature_source import FeastFeatureSource

    return FeastFeatureSource(client), FeastEventSink(client.store)


def test_recommend_search_ingest_with_feast(tiny_bundle, feast_side):
    events, _, client = feast_side
    buyers = events[events.event_type == "PURCHASE"].groupby("user_id").item_id.nunique()
    user = str(buyers.idxmax())
    bought = set(events[(events.user_id == user) & (events.event_type == "PURCHASE")].item_id)
    assert client.get_user_profile(user).profile.bought == bought  # the store really holds the history
    ms = int(time.time() * 1000)

    async def body():
        source, sink = _source_and_sink(client)
        async with serving(tiny_bundle, source, sink, feature_timeout_ms=5000) as (stub, server, *_):
            sink.set_item_embedder(server.embed_items)
            no_explore = pb.RecommendOptions(exploration_share=0, diversity=0)
            warm = await stub.Recommend(pb.RecommendRequest(user_id=user, k=5), timeout=10)
            cold = await stub.Recommend(
                pb.RecommendRequest(user_id="nobody-ever", k=5, options=no_explore), timeout=10
            )
            top = (
                (await stub.Recommend(pb.RecommendRequest(user_id=user, k=1, options=no_explore)))
                .items[0]
                .item_id
            )
            summary = await stub.IngestEvents(
                iter(
                    [
                        pb.Event(
                            event_id=f"buy-{ms}",
                            type=pb.PURCHASE,
                            user_id=user,
                            item_id=top,
                            quantity=1,
                            price=1.0,
                            timestamp_ms=ms,
                        ),
                        pb.Event(
                            event_id=f"up-{ms}",
                            type=pb.ITEM_UPSERT,
                            item_id="NEW-1",
                            item_text="retro garden lantern deluxe",
                            price=4.0,
                            timestamp_ms=ms,
                        ),
                    ]
                )
            )
            after = await stub.Recommend(
                pb.RecommendRequest(user_id=user, k=5, options=no_explore), timeout=10
            )
            found = await stub.Search(pb.SearchRequest(query="retro garden lantern deluxe", k=3), timeout=10)
            words = await stub.Search(pb.SearchRequest(query="candle", k=5), timeout=10)
            return warm, cold, top, summary, after, found, words

    warm, cold, top, summary, after, found, words = asyncio.run(body())
    assert len(warm.items) == 5 and not warm.degraded
    assert not {i.item_id for i in warm.items} & bought  # nothing the user bought
    assert warm.items[0].reason == R.PERSONALISED
    assert len(cold.items) == 5 and {i.reason for i in cold.items} == {R.COLD_START}
    assert (summary.accepted, summary.rejected) == (2, 0)
    assert top not in {i.item_id for i in after.items}  # purchase went live via Feast
    assert top in client.get_user_profile(user).profile.bought
    assert found.items[0].item_id == "NEW-1"  # upserted item retrievable
    texts = dict(
        zip(*[pd.read_parquet(tiny_bundle / "items.parquet")[c] for c in ("item_id", "text")], strict=True)
    )
    # the tiny model is random, but the query's own words still pull matching items up
    assert any("candle" in texts.get(i.item_id, "") for i in words.items)


def test_tiny_bundle_reload_and_corruption(tiny_bundle, feast_side, tmp_path):
    _, _, client = feast_side
    v2 = shutil.copytree(tiny_bundle, tmp_path / "v2")
    manifest = json.loads((v2 / "manifest.json").read_text())
    manifest["version"] = "tiny-v2"
    (v2 / "manifest.json").write_text(json.dumps(manifest))
    bad = shutil.copytree(tiny_bundle, tmp_path / "bad")
    onnx_bytes = bytearray((bad / "ranker.onnx").read_bytes())
    onnx_bytes[-1] ^= 0xFF
    (bad / "ranker.onnx").write_bytes(bytes(onnx_bytes))
    user = "U011"

    async def body():
        source, sink = _source_and_sink(client)
        async with serving(
            tiny_bundle, source, sink, feature_timeout_ms=5000, bundles_root=str(tmp_path)
        ) as (stub, *_):
            stop, errors, calls = asyncio.Event(), [], [0]

            async def load():
                while not stop.is_set():
                    try:
                        await stub.Recommend(pb.RecommendRequest(user_id=user, k=5), timeout=10)
                        await stub.Search(pb.SearchRequest(query="pink cake", k=5), timeout=10)
                        calls[0] += 2
                    except Exception as e:
                        errors.append(e)

            tasks = [asyncio.create_task(load()) for _ in range(4)]
            await async_wait_until(lambda: calls[0] >= 20, 120, what=f"20 calls (errors: {errors[:3]})")
            swapped = await stub.ReloadModel(pb.ReloadModelRequest(version="v2"))
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ReloadModel(pb.ReloadModelRequest(version="bad"))
            mark = calls[0]
            await async_wait_until(lambda: calls[0] >= mark + 20, 120, what="20 calls after the swap")
            stop.set()
            await asyncio.gather(*tasks)
            info = await stub.GetModelInfo(pb.GetModelInfoRequest())
            return swapped, refused.value, errors, info

    swapped, refused, errors, info = asyncio.run(body())
    assert errors == []
    assert swapped.bundle_version == "tiny-v2"
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION and "ranker.onnx sha256" in refused.details()
    assert info.bundle_version == "tiny-v2" and info.catalogue_size == 40
    assert np.isfinite(json.loads(info.metrics_json).get("parity_max_abs_diff", {}).get("item_encoder", 0.0))
