"""The user-tower output reused within ``user_vector_reuse_ms`` (online/server/user_vectors.py).

A hit is exactly the tower's vector for the same stored row and session at an instant at most
the window earlier (bit for bit); anything else misses: another profile object (any write to
the row), other session items, a new snapshot (upsert, reload), a clock outside the window.
Through ``recommend()`` with the clock held still, replies with the cache are bit-for-bit the
replies without it. The real-Feast, real-gRPC check (a write to the row misses) is in
test_profile_rows.py."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fulcrum.core.bundle.loader import load_bundle
from fulcrum.core.profile import UserProfile
from fulcrum.v1 import recommender_pb2 as pb
from online.config import build_config
from online.inference.model import ServingModel
from online.server import recommend as recommend_module
from online.server.feature_source import InMemoryFeatures
from online.server.profile_rows import ProfileRowsCache
from online.server.profiles import history_for
from online.server.recommend import recommend
from online.server.user_vectors import LOOKUPS, UserVectorCache
from online.server.validation import recommend_query

T0 = 1_900_000_000.0


def _count(result: str) -> float:
    return LOOKUPS.labels(result)._value.get()


@pytest.fixture(scope="module")
def bundle(tiny_bundle: Path):
    return load_bundle(tiny_bundle, execution_provider="cpu", intra_op_threads=1)


def _profile(cat, user: str = "u1") -> UserProfile:
    ids = [str(i) for i in cat.item_ids[:6]]
    day = 86_400.0
    return UserProfile(
        user,
        recent_items=tuple(ids[:4]),
        recent_types=("VIEW", "PURCHASE", "VIEW", "ADD_TO_CART"),
        # recent events (an hour to 3 days old), where the age features move fastest
        recent_times=(T0 - 3 * day, T0 - day, T0 - 7200.0, T0 - 3600.0),
        bought=frozenset(ids[1:2]),
    )


def _tower(bundle, profile: UserProfile, at: float) -> np.ndarray:
    cat = bundle.catalogue
    return bundle.user_encoder([history_for(profile, cat, at, bundle.user_encoder.history_length)])[0]


def test_a_hit_is_the_towers_vector_at_an_instant_within_the_window(bundle) -> None:
    cat, p = bundle.catalogue, _profile(bundle.catalogue)
    cache = UserVectorCache(reuse_s=1.0)
    assert cache.get(cat, p, (), T0) is None  # empty: a miss
    computed = _tower(bundle, p, T0)
    kept = cache.put(cat, p, (), T0, computed)
    assert not kept.flags.writeable and kept.base is None  # a copy of the batch row, read-only
    hits = _count("hit")
    for later in (0.0, 0.4, 1.0):
        got = cache.get(cat, p, (), T0 + later)
        assert got is kept and np.array_equal(got, _tower(bundle, p, T0))
    assert _count("hit") - hits == 3
    # outside the window (or a clock that went back): a miss, the caller runs the tower again
    assert cache.get(cat, p, (), T0 + 1.001) is None
    assert cache.get(cat, p, (), T0 - 0.001) is None
    # what the window tolerates: event ages one second apart give (nearly) the same vector, and
    # the tower does see the ages (an hour apart moves it more)
    second = np.abs(_tower(bundle, p, T0 + 1.0) - computed).max()
    hour = np.abs(_tower(bundle, p, T0 + 3600.0) - computed).max()
    assert second <= 1e-4 and hour > second


def test_only_the_same_object_session_and_snapshot_hit(bundle) -> None:
    cat, p = bundle.catalogue, _profile(bundle.catalogue)
    cache = UserVectorCache(reuse_s=10.0)
    vec = cache.put(cat, p, (), T0, _tower(bundle, p, T0))
    # an equal profile that is another object: the stored row was read again after a write
    assert cache.get(cat, replace(p), (), T0) is None
    # other session items are other history
    session = (str(cat.item_ids[7]),)
    assert cache.get(cat, p, session, T0) is None
    with_session = cache.put(cat, p, session, T0, _tower(bundle, p, T0) + 1.0)
    assert cache.get(cat, p, session, T0) is with_session and cache.get(cat, p, (), T0) is vec
    # an upsert makes a new snapshot (new embeddings may feed the tower): every entry goes
    sv = None if cat.search_vectors is None else cat.search_vectors[:1]
    grown = cat.with_items(["NEW-1"], ["a new lamp"], cat.embeddings[:1], [1.0], time.time(), sv)
    assert cache.get(grown, p, (), T0) is None and len(cache) == 0
    cache.put(grown, p, (), T0, vec.copy())
    cache.put(grown, _profile(cat, "u2"), (), T0, vec.copy())
    cache.forget_user("u1")
    assert len(cache) == 1 and cache.get(grown, p, (), T0) is None


def test_bounds_and_off(bundle) -> None:
    cat = bundle.catalogue
    profiles = [_profile(cat, f"u{i}") for i in range(3)]
    small = UserVectorCache(reuse_s=10.0, max_entries=2)
    for p in profiles:
        small.put(cat, p, (), T0, np.ones(4, dtype=np.float32))
    assert len(small) == 2 and small.get(cat, profiles[0], (), T0) is None  # least recently used
    off = UserVectorCache(reuse_s=0.0)
    assert not off.enabled
    off.put(cat, profiles[0], (), T0, np.ones(4, dtype=np.float32))
    assert len(off) == 0 and off.get(cat, profiles[0], (), T0) is None
    with pytest.raises(ValueError, match="reuse_s >= 0"):
        UserVectorCache(reuse_s=-1.0)


def test_recommend_with_the_cache_gives_the_same_replies_bit_for_bit(bundle, monkeypatch) -> None:
    cat = bundle.catalogue
    users = [_profile(cat, f"u{i}") for i in range(3)]
    features = InMemoryFeatures(users)
    config = build_config({"security": {"allow_plaintext": True, "allow_unauthenticated": True}}, env={})
    requests = [
        pb.RecommendRequest(user_id=u.user_id, k=6, options=pb.RecommendOptions(seed=3))
        for u in users
    ] + [
        pb.RecommendRequest(
            user_id="u0", k=6, session_item_ids=[str(cat.item_ids[9])], options=pb.RecommendOptions(seed=4)
        )
    ]
    queries = [recommend_query(r, config) for r in requests]
    monkeypatch.setattr(recommend_module.time, "time", lambda: T0)  # the clock held still

    def flat(reply):
        return [(s.item_id, s.score, s.reason) for s in reply.items]

    async def run(vectors: UserVectorCache | None) -> list:
        with ThreadPoolExecutor(2) as ex:
            model = ServingModel(bundle, ex, 64, 0.0, None, lambda: True)
            rows = ProfileRowsCache()
            return [
                flat(await recommend(model, features, ex, config, q, 5.0, rows, vectors))
                for q in queries * 2  # the second round hits
            ]

    fresh = asyncio.run(run(None))
    cache = UserVectorCache(reuse_s=1.0)
    hits = _count("hit")
    cached = asyncio.run(run(cache))
    assert _count("hit") - hits == len(queries) and len(cache) == len(queries)
    assert cached == fresh and all(len(r) == 6 for r in fresh)
