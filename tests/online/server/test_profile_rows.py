"""Recommend's per-user derived rows (online/server/profile_rows.py): the hybrid score split into
its prior terms is bit-for-bit the one-shot score; the cache hits only for the very profile object
in the very snapshot; and through a REAL Feast store and a real gRPC server on port 0, a write to
the user's row (IngestEvents -> Feast) is seen by the next Recommend, with the same lists before
and after the cache warmed."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fulcrum.core import hybrid as hy
from fulcrum.core.bundle.loader import load_bundle
from fulcrum.core.profile import UserProfile
from fulcrum.v1 import recommender_pb2 as pb
from online.server.profile_rows import LOOKUPS, ProfileRowsCache, derive
from online.server.user_vectors import LOOKUPS as VECTOR_LOOKUPS
from tests.online.server.profiles import looker
from tests.serving_helpers import serving

STORES = ["sqlite", pytest.param("redis", marks=pytest.mark.redis)]


def _count(result: str) -> float:
    return LOOKUPS.labels(result)._value.get()


def _vectors() -> tuple[float, float]:
    """(misses, hits) of the user-vector cache so far."""
    return tuple(VECTOR_LOOKUPS.labels(r)._value.get() for r in ("miss", "hit"))


@pytest.fixture(scope="module")
def cat(tiny_bundle: Path):
    """The tiny bundle's catalogue with both hybrid weights on (whatever validation chose)."""
    c = load_bundle(tiny_bundle, execution_provider="cpu", intra_op_threads=1).catalogue
    assert c.neighbours is not None and c.trend is not None
    return replace(c, hybrid=hy.HybridWeights(neighbour=0.7, trend=0.3))


def _reference(cat, user, bought_rows) -> np.ndarray:
    # the hybrid score as written before the split: z(cos) + wn * z(neighbour), then + wt * trend
    cosine = (cat.embeddings @ user).astype(np.float64)
    out = hy.standardise(cosine) + cat.hybrid.neighbour * hy.standardise(
        cat.neighbours.scores(bought_rows, len(cat))
    )
    return out + cat.hybrid.trend * cat.trend_all


def test_scores_with_a_kept_prior_are_bit_for_bit_the_one_shot_score(cat) -> None:
    rng = np.random.default_rng(3)
    for bought in ([], [0], [1, 4, 9], list(range(0, len(cat), 3))):
        rows = np.asarray(bought, dtype=np.int64)
        user = cat.embeddings[rng.integers(0, len(cat), 4)].mean(axis=0)
        want = _reference(cat, user, rows)
        _, fresh = cat.retrieval_scores(user, bought_rows=rows)
        _, kept = cat.retrieval_scores(user, bought_rows=rows, prior=cat.user_prior(rows))
        assert np.array_equal(fresh, want) and np.array_equal(kept, want)
        ids = [str(cat.item_ids[r]) for r in bought] + ["not-in-the-catalogue"]
        assert np.array_equal(cat.retrieval_scores(user, ids)[1], want)


def _profile(cat) -> UserProfile:
    ids = [str(i) for i in cat.item_ids[:8]]
    return UserProfile(
        "u1",
        recent_items=tuple(ids[:3]),
        bought=frozenset(ids[:3] + ["gone"]),
        cancelled=frozenset(ids[3:4]),
        disliked=frozenset(ids[4:5]),
        ignored={ids[5]: 5, ids[6]: 1},  # only ids[5] reaches the threshold 3
    )


def test_cache_hits_only_the_same_object_in_the_same_snapshot(cat) -> None:
    p = _profile(cat)
    cache = ProfileRowsCache()
    first = cache.get(cat, p, 3)
    assert first.bought.tolist() == [0, 1, 2] and first.others.tolist() == [3, 4, 5]
    assert not first.bought.flags.writeable and not first.prior.neighbour.flags.writeable
    hits = _count("hit")
    assert cache.get(cat, p, 3) is first and _count("hit") - hits == 1
    # an equal profile that is another object (a re-decoded row): derived again, same values
    again = cache.get(cat, replace(p), 3)
    assert again is not first and np.array_equal(again.prior.neighbour, first.prior.neighbour)
    assert cache.get(cat, p, 1).others.tolist() == [3, 4, 5, 6]  # another threshold: not the entry
    # an upsert makes a new snapshot: every entry goes
    sv = None if cat.search_vectors is None else cat.search_vectors[:1]
    grown = cat.with_items(["NEW-1"], ["a new lamp"], cat.embeddings[:1], [1.0], time.time(), sv)
    fresh = cache.get(grown, p, 3)
    assert fresh is not first and len(cache) == 1 and len(fresh.prior.neighbour) == len(cat) + 1
    want = derive(grown, p, 3)
    assert np.array_equal(fresh.bought, want.bought) and np.array_equal(fresh.prior.trend, want.prior.trend)
    cache.forget_user("u1")
    assert len(cache) == 0


def test_interactions_source_feeds_the_neighbour_term_from_recent_positive_items(cat) -> None:
    icat = replace(cat, hybrid=replace(cat.hybrid, neighbour_source="interactions"))
    got = derive(icat, looker(cat), 3)
    # sources: bought row 0 + viewed row 1 + carted row 3 (the cancel and dislike are not
    # positive); bought and blocked rows are the profile's sets as before (no cancelled or
    # disliked SET here: blocking is not the sequence's business)
    assert got.sources.tolist() == [0, 1, 3] and got.bought.tolist() == [0]
    assert got.others.tolist() == [] and not got.sources.flags.writeable
    assert np.array_equal(got.prior.neighbour, icat.user_prior(np.array([0, 1, 3])).neighbour)
    parts = (got.bought, got.others, got.sources, got.prior.neighbour)
    assert got.nbytes == sum(a.nbytes for a in parts)


def test_purchases_source_is_unchanged(cat) -> None:
    # the default (every bundle without hybrid.neighbour_source): the bought rows, the very array
    assert cat.hybrid.neighbour_source == "purchases"
    got = derive(cat, looker(cat), 3)
    assert got.sources is got.bought and got.bought.tolist() == [0]
    assert np.array_equal(got.prior.neighbour, cat.user_prior(np.array([0])).neighbour)
    assert got.nbytes == got.bought.nbytes + got.others.nbytes + got.prior.neighbour.nbytes


def test_cache_bounds_by_entries_and_bytes(cat) -> None:
    profiles = [replace(_profile(cat), user_id=f"u{i}") for i in range(3)]
    by_entries = ProfileRowsCache(max_entries=2)
    for p in profiles:
        by_entries.get(cat, p, 3)
    assert len(by_entries) == 2
    hits = _count("hit")
    by_entries.get(cat, profiles[0], 3)  # the least recently used went first
    assert _count("hit") == hits
    one = derive(cat, profiles[0], 3).nbytes
    by_bytes = ProfileRowsCache(max_bytes=one)
    for p in profiles:
        by_bytes.get(cat, p, 3)
    assert len(by_bytes) == 1
    off = ProfileRowsCache(max_entries=0)
    off.get(cat, profiles[0], 3)
    assert len(off) == 0
    with pytest.raises(ValueError, match="must be >= 0"):
        ProfileRowsCache(max_entries=-1)


@pytest.fixture(scope="module", params=STORES)
def feast_client(request, tiny_bundle, tmp_path_factory):
    from offline.features.pipeline import build_features
    from online.features.client import OnlineFeatureClient
    from tests.feature_repo_copy import copy_repo

    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    data = tiny_bundle.parent.parent / "data"
    events = pd.read_parquet(data / "events.parquet")
    repo = copy_repo(tmp_path_factory.mktemp("feast"))
    items = pd.read_parquet(data / "items.parquet")
    build_features(events, repo, items=items, store=request.param, redis_url=url, bundle=tiny_bundle)
    client = OnlineFeatureClient.open(repo, request.param, url, default_timeout_s=5.0, user_cache_entries=100)
    yield events, client
    client.close()


def test_recommend_through_real_feast_sees_every_write_and_keeps_its_lists(tiny_bundle, feast_client):
    from online.features.sink import FeastEventSink
    from online.server.feature_source import FeastFeatureSource

    events, client = feast_client
    buyers = events[events.event_type == "PURCHASE"].groupby("user_id").item_id.nunique()
    user = str(buyers.idxmax())
    opts = pb.RecommendOptions(exploration_share=0, diversity=0, seed=5)
    ms = int(time.time() * 1000)

    async def body():
        source, sink = FeastFeatureSource(client), FeastEventSink(client.store)
        # the user-tower output reused for a minute (online/server/user_vectors.py): a write to the
        # row must still be seen at once
        async with serving(
            tiny_bundle, source, sink, feature_timeout_ms=5000, user_vector_reuse_ms=60_000
        ) as (stub, server, *_):
            sink.set_item_embedder(server.embed_items)

            async def ids(k=8):
                reply = await stub.Recommend(pb.RecommendRequest(user_id=user, k=k, options=opts), timeout=10)
                return [i.item_id for i in reply.items]

            misses, vec = _count("miss"), _vectors()
            first = await ids()
            hits = _count("hit")
            second = await ids()
            warmed = (_count("miss") - misses, _count("hit") - hits)
            vec_warmed = tuple(b - a for a, b in zip(vec, _vectors(), strict=True))
            top = first[0]
            await stub.IngestEvents(
                iter(
                    [
                        pb.Event(
                            event_id=f"pr-{ms}",
                            type=pb.PURCHASE,
                            user_id=user,
                            item_id=top,
                            quantity=1,
                            price=1.0,
                            timestamp_ms=ms,
                        )
                    ]
                )
            )
            vec = _vectors()
            after_buy = await ids()
            vec_after_buy = tuple(b - a for a, b in zip(vec, _vectors(), strict=True))
            disliked = after_buy[0]
            await stub.IngestEvents(
                iter(
                    [
                        pb.Event(
                            event_id=f"pr-d-{ms}",
                            type=pb.DISLIKE,
                            user_id=user,
                            item_id=disliked,
                            timestamp_ms=ms + 1,
                        )
                    ]
                )
            )
            after_dislike = await ids()
            return first, second, warmed, top, after_buy, disliked, after_dislike, vec_warmed, vec_after_buy

    got = asyncio.run(body())
    first, second, warmed, top, after_buy, disliked, after_dislike, vec_warmed, vec_after_buy = got
    assert len(first) == 8 and first == second  # the cached rows give the same list
    assert warmed == (1, 1)  # one derivation, then a hit for the unchanged row
    assert vec_warmed == (1, 1) and vec_after_buy == (1, 0)  # (misses, hits): the write missed
    assert top not in after_buy  # the purchase changed the stored row: derived afresh, blocked
    assert disliked not in after_dislike and top not in after_dislike
