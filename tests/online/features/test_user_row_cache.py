"""The decoded-user cache (online/features/user_cache.py) on a real SQLite file and a real
redis-server: a cached client answers exactly what an uncached one does, skips only the decode of
bytes it has seen, sees every write at once (the sink's, through the real store), and forgets a
user on ForgetUser."""

from __future__ import annotations

import asyncio

import pytest

from fulcrum.core.events import Event
from fulcrum.core.schema import EventType
from offline.features.pipeline import build_features
from online.features.client import OnlineFeatureClient
from online.features.sink import FeastEventSink
from online.features.user_cache import LOOKUPS, DecodedUserCache
from tests.feature_repo_copy import copy_repo, synthetic_events

STORES = ["sqlite", pytest.param("redis", marks=pytest.mark.redis)]


def _count(result: str) -> float:
    return LOOKUPS.labels(result)._value.get()


@pytest.fixture(params=STORES)
def clients(request, tmp_path):
    kind = request.param
    url = request.getfixturevalue("redis_url") if kind == "redis" else None
    events = synthetic_events(n=400, users=20, items=15)
    repo = copy_repo(tmp_path / "repo")
    build_features(events, repo, store=kind, redis_url=url)
    cached = OnlineFeatureClient.open(repo, kind, url, default_timeout_s=5.0, user_cache_entries=100)
    plain = OnlineFeatureClient.open(repo, kind, url, default_timeout_s=5.0)
    yield events, cached, plain
    cached.close()
    plain.close()


def test_cached_reads_equal_fresh_decodes_and_skip_only_the_decode(clients):
    events, cached, plain = clients
    users = sorted(events.user_id.unique()) + ["nobody"]
    first = {u: cached.get_user_profile(u) for u in users}
    hits = _count("hit")
    again = {u: cached.get_user_profile(u) for u in users}
    assert _count("hit") - hits == len(users)  # same bytes: every user served from the cache
    assert all(again[u] is first[u] for u in users)  # the decoded object itself, not a copy

    async def on_loop():
        return {u: await cached.get_user_profile_async(u) for u in users}

    for u, got in asyncio.run(on_loop()).items():
        want = plain.get_user_profile(u)
        assert got == want and got.profile == want.profile and got.miss == want.miss


def test_a_write_to_the_row_is_seen_on_the_next_read(clients):
    events, cached, plain = clients
    user = str(events.user_id.iloc[0])
    before = cached.get_user_profile(user)
    assert cached.get_user_profile(user) is before
    t = int(events.timestamp.max().timestamp() * 1000) + 60_000
    FeastEventSink(plain.store).apply(
        [Event("fresh-1", EventType.PURCHASE, user, "brand-new-item", 1.0, 3.0, t, "s", "")]
    )
    misses = _count("miss")
    after = cached.get_user_profile(user)
    assert _count("miss") - misses == 1
    assert "brand-new-item" in after.profile.bought and "brand-new-item" not in before.profile.bought
    assert after == plain.get_user_profile(user)


def test_forget_user_drops_the_entry(clients):
    events, cached, _ = clients
    user = str(events.user_id.iloc[0])
    cached.get_user_profile(user)
    assert len(cached._users) == 1
    cached.forget_user(user)
    assert len(cached._users) == 0


def test_bounds_evict_least_recently_used_by_entries_and_bytes():
    raw = [[{"f": b"x" * 10}]]
    cache = DecodedUserCache(max_entries=2, max_bytes=25)
    cache.put("a", raw, "A")
    cache.put("b", raw, "B")
    assert cache.get("a", raw) == "A"  # a is now the most recent
    cache.put("c", raw, "C")  # 3 entries > 2 (and 30 bytes > 25): b, the least recent, goes
    assert cache.get("b", raw) is None and cache.get("a", raw) == "A" and cache.get("c", raw) == "C"
    assert cache.get("a", [[{"f": b"y" * 10}]]) is None  # other bytes: a miss, never the old value
    cache.put("big", [[{"f": b"z" * 26}]], "Z")  # larger than the whole budget: not kept
    assert cache.get("big", [[{"f": b"z" * 26}]]) is None
    off = DecodedUserCache(max_entries=0)
    off.put("a", raw, "A")
    assert not off.enabled and off.get("a", raw) is None
    with pytest.raises(ValueError, match="must be >= 0"):
        DecodedUserCache(max_entries=-1)
