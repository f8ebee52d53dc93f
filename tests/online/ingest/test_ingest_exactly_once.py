"""Exactly-once effects: atomic id claims shared by pipelines (real Redis), and the applied-events
journal written with the rows (real Feast repo, SQLite and real Redis) so a redelivery after a
crash between the write and the mark, or between two views' writes, changes every row once."""

from __future__ import annotations

import pytest

from fulcrum.core import feature_names as fn
from fulcrum.core.events import Event
from fulcrum.core.schema import EventType
from online.features.sink import FeastEventSink
from online.ingest.dedupe import BUSY, DONE, MINE, MemoryDedupe, RedisDedupe
from online.ingest.memory_sink import MemorySink
from online.ingest.pipeline import IngestPipeline
from online.ingest.sink import SinkUnavailable
from tests.feature_repo_copy import DAY, T0, copy_repo, synthetic_events
from tests.fixtures.services import unique_topic, wait_until

STORES = ["sqlite", pytest.param("redis", marks=pytest.mark.redis)]


def _ev(eid, type_, user, item, sec, price=1.0):
    return Event(eid, EventType(type_), user, item, 1.0, price, int((T0 + sec) * 1000), "s", "")


# ---- claims ------------------------------------------------------------------------------------


def test_memory_claims_mine_done_busy_and_release() -> None:
    d = MemoryDedupe()
    assert d.reserve(["a", "b"], "r:1") == [MINE, MINE]
    assert d.reserve(["a", "b", "c"], "r:2") == [BUSY, BUSY, MINE]
    assert d.reserve(["a"], "r:1") == [MINE]  # re-claiming one's own claim
    d.mark(["a"])
    d.release(["b"], "r:2")  # not r:2's claim: kept
    assert d.reserve(["a", "b"], "r:2") == [DONE, BUSY]
    d.release(["b"], "r:1")
    assert d.reserve(["b"], "r:2") == [MINE]


@pytest.mark.redis
def test_redis_claims_are_atomic_expire_with_their_lease_and_turn_done(redis_url: str) -> None:
    prefix = unique_topic("claims") + ":"
    first = RedisDedupe.from_url(redis_url, prefix=prefix, lease_s=0.5)
    second = RedisDedupe.from_url(redis_url, prefix=prefix, lease_s=0.5)
    assert first.reserve(["a", "b"], "r:one") == [MINE, MINE]
    assert second.reserve(["a", "b", "c"], "r:two") == [BUSY, BUSY, MINE]
    first.mark(["a"])
    second.release(["c"], "r:two")
    assert second.reserve(["a", "b", "c"], "r:two") == [DONE, BUSY, MINE]
    # the holder of "b" died: its claim expires with the lease and the other pipeline takes over
    wait_until(lambda: second.reserve(["b"], "r:two") == [MINE], 10, interval=0.1, what="lease expiry")
    assert first.client.ttl(prefix + "a") > 3600  # done: the long TTL, not the lease


def test_a_batch_claimed_by_another_pipeline_waits_then_counts_as_duplicates() -> None:
    shared = MemoryDedupe()
    sink = MemorySink()
    a = IngestPipeline(sink, shared, door="a")
    b = IngestPipeline(sink, shared, door="b")
    events = [_ev(f"x{i}", "VIEW", "u", "i", 10 + i) for i in range(4)]
    # a claims the events (as if it were applying them right now) ...
    assert shared.reserve([e.event_id for e in events], a._owner) == [MINE] * 4
    with pytest.raises(SinkUnavailable, match="being applied by another consumer"):
        b.process(events)
    assert sink.applied_count == 0
    # ... and finishes: b's retry finds them done
    shared.mark([e.event_id for e in events])
    result = b.process(events)
    assert (result.accepted, result.duplicates) == (0, 4)


def test_a_failed_apply_releases_the_claims_for_the_retry_or_another_pipeline() -> None:
    shared = MemoryDedupe()
    sink = MemorySink()
    sink.fail_next(1)
    a = IngestPipeline(sink, shared, door="a")
    events = [_ev("y1", "VIEW", "u", "i", 1)]
    with pytest.raises(SinkUnavailable):
        a.process(events)
    assert IngestPipeline(sink, shared, door="b").process(events).accepted == 1


# ---- the journal -------------------------------------------------------------------------------


@pytest.fixture(params=STORES)
def repo_client(request, tmp_path):
    from offline.features.pipeline import build_features
    from online.features.client import OnlineFeatureClient

    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    repo = copy_repo(tmp_path)
    build_features(synthetic_events(n=40), repo, store=request.param, redis_url=url)
    client = OnlineFeatureClient.open(repo, request.param, url, default_timeout_s=5.0)
    yield client
    client.close()


def test_a_batch_applied_again_by_a_restarted_sink_changes_nothing(repo_client) -> None:
    """kill -9 after the store write, before the ids were marked: the new process (fresh sink,
    empty caches, no dedupe memory) gets the batch again."""
    client = repo_client
    n0 = client.get_user_profile("u1").profile.purchase_count
    i0 = client.get_item_stats(["i3"]).purchases[0]
    batch = [_ev(f"k{j}", "PURCHASE", "u1", "i3", 80 * DAY + j) for j in range(3)]
    FeastEventSink(client.store).apply(batch)
    FeastEventSink(client.store).apply(batch)  # the redelivery, after a restart
    FeastEventSink(client.store).apply(batch[1:] + [_ev("k9", "PURCHASE", "u1", "i3", 81 * DAY)])
    assert client.get_user_profile("u1").profile.purchase_count == n0 + 4
    assert client.get_item_stats(["i3"]).purchases[0] == i0 + 4


def test_a_crash_between_the_user_and_the_item_write_is_repaired_once(repo_client, monkeypatch) -> None:
    from online.features.online_write import OnlineRowWriter

    client = repo_client
    n0 = client.get_user_profile("u2").profile.purchase_count
    i0 = client.get_item_stats(["i4"]).purchases[0]
    real_write, real_checked = OnlineRowWriter.write, OnlineRowWriter.write_checked

    def dies_on_items(self, *args):
        if self.view.name == fn.ITEM_STATS_VIEW:
            raise ConnectionError("process killed")
        return real_write(self, *args)

    def checked_dies_on_items(self, *args):  # the compare-and-set path (Redis)
        if self.view.name == fn.ITEM_STATS_VIEW:
            raise ConnectionError("process killed")
        return real_checked(self, *args)

    batch = [_ev("c1", "PURCHASE", "u2", "i4", 85 * DAY), _ev("c2", "PURCHASE", "u2", "i4", 85 * DAY + 1)]
    monkeypatch.setattr(OnlineRowWriter, "write", dies_on_items)
    monkeypatch.setattr(OnlineRowWriter, "write_checked", checked_dies_on_items)
    with pytest.raises(SinkUnavailable):
        FeastEventSink(client.store).apply(batch)
    monkeypatch.setattr(OnlineRowWriter, "write", real_write)
    monkeypatch.setattr(OnlineRowWriter, "write_checked", real_checked)
    FeastEventSink(client.store).apply(batch)  # a new process: users already have the batch
    assert client.get_user_profile("u2").profile.purchase_count == n0 + 2
    assert client.get_item_stats(["i4"]).purchases[0] == i0 + 2


# ---- several writers of one row (compare-and-set, Redis) ----------------------------------------


@pytest.mark.redis
def test_two_writers_of_one_item_never_lose_an_update(tmp_path, redis_url) -> None:
    from offline.features.pipeline import build_features
    from online.features.client import OnlineFeatureClient

    repo = copy_repo(tmp_path)
    build_features(synthetic_events(n=40), repo, store="redis", redis_url=redis_url)
    client = OnlineFeatureClient.open(repo, "redis", redis_url, default_timeout_s=5.0)
    try:
        a = FeastEventSink(client.store, cache_items=True)  # caching, to prove stale caches are caught
        b = FeastEventSink(client.store)
        i0 = client.get_item_stats(["i5"]).purchases[0]
        a.apply([_ev("w1", "PURCHASE", "ua", "i5", 70 * DAY)])  # a caches i5
        b.apply([_ev("w2", "PURCHASE", "ub", "i5", 70 * DAY + 1)])  # b writes i5 behind a's back
        # a reads i5 (its cache is stale: the version moved) ... and while a folds, b writes again
        real_read = a._read
        interleaved = []

        def read_then_other_writer(view, key, ids):
            out = real_read(view, key, ids)
            if view == fn.ITEM_STATS_VIEW and not interleaved:
                interleaved.append(True)
                b.apply([_ev("w3", "PURCHASE", "ub", "i5", 70 * DAY + 2)])
            return out

        a._read = read_then_other_writer
        a.apply([_ev("w4", "PURCHASE", "ua", "i5", 70 * DAY + 3)])
        assert interleaved
        assert client.get_item_stats(["i5"]).purchases[0] == i0 + 4
        assert client.get_user_profile("ua").profile.purchase_count == 2
        assert client.get_user_profile("ub").profile.purchase_count == 2
    finally:
        client.close()
