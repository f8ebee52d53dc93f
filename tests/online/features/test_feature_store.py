"""The Feast repo for real, against SQLite and against a real redis-server: batch tables applied and
materialised, the online client's reads, the sink's pushes (no skew with the batch fold), point-in-
time training rows, and failures turned into domain errors."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from fulcrum.core import feature_names as fn
from fulcrum.core.errors import FeatureStoreUnavailable
from fulcrum.core.events import Event
from fulcrum.core.item_state import ItemState, fold_item_events
from fulcrum.core.schema import EventType
from fulcrum.core.user_state import UserState, fold_user_events, user_profile, user_state_from_row
from offline.features.batch import item_snapshots, user_snapshots
from offline.features.pipeline import build_features
from offline.features.training import historical_features, profiles_from_rows
from online.features.client import OnlineFeatureClient
from online.features.sink import FeastEventSink
from online.ingest.sink import SinkUnavailable
from tests.feature_repo_copy import DAY, ROOT, T0, copy_repo, events_frame, redis_hashes, synthetic_events

STORES = ["sqlite", pytest.param("redis", marks=pytest.mark.redis)]


@pytest.fixture(scope="module", params=STORES)
def store_kind(request) -> tuple[str, str | None]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    return request.param, url


def _build(kind: str, url: str | None, where):
    events = synthetic_events()
    repo = copy_repo(where)
    summary = build_features(events, repo, store=kind, redis_url=url)
    client = OnlineFeatureClient.open(repo, kind, url, default_timeout_s=5.0)
    return events, repo, summary, client


@pytest.fixture(scope="module")
def shared(store_kind, tmp_path_factory):
    """One applied + materialised repo copy per store for the tests that only read."""
    built = _build(*store_kind, tmp_path_factory.mktemp("shared"))
    yield built
    built[3].close()


@pytest.fixture
def built(store_kind, tmp_path):
    """A repo copy of the test's own (for tests that push)."""
    built = _build(*store_kind, tmp_path)
    yield built
    built[3].close()


def _last_rows(frame: pd.DataFrame, key: str) -> dict[str, dict]:
    return {r[key]: r for r in frame.groupby(key).tail(1).to_dict("records")}


def test_materialised_features_equal_the_last_batch_snapshot(shared):
    events, repo, summary, client = shared
    assert summary.rows[fn.USER_BEHAVIOUR_VIEW] > summary.entities["users"]  # several snapshots per user
    users = _last_rows(user_snapshots(events), fn.USER_KEY)
    for uid, row in users.items():
        got = client.get_user_profile(uid)
        want = user_state_from_row(row)
        assert not got.miss
        assert got.profile == user_profile(uid, want)
        assert got.as_of == pytest.approx(want.as_of)
        assert got.counts[fn.count_feature("PURCHASE", "7d")] == row["purchase_count_7d"]
    # and by hand, the fold of one user's raw events gives the same profile
    u0 = events[events.user_id == "u0"].sort_values("timestamp", kind="stable")
    from fulcrum.core.user_state import BehaviourEvent

    by_hand = fold_user_events(
        UserState(),
        [
            BehaviourEvent(i, t, ts.timestamp())
            for i, t, ts in zip(u0.item_id, u0.event_type, u0.timestamp, strict=True)
        ],
    )
    assert client.get_user_profile("u0").profile == user_profile("u0", by_hand)
    miss = client.get_user_profile("nobody")
    assert miss.miss and miss.profile.is_cold and miss.profile.bought == frozenset() and miss.counts == {}

    items = _last_rows(item_snapshots(events), fn.ITEM_KEY)
    ids = sorted(items) + ["unknown-item"]
    stats = client.get_item_stats(ids)
    assert stats.found.tolist() == [True] * len(items) + [False]
    for j, iid in enumerate(ids[:-1]):
        assert stats.purchases[j] == items[iid][fn.ITEM_PURCHASES]
        assert stats.popularity_rank[j] == items[iid][fn.ITEM_POPULARITY_RANK]
        assert stats.cancel_rate[j] == pytest.approx(items[iid][fn.ITEM_CANCEL_RATE])
    assert np.isnan(stats.price[-1]) and stats.purchases[-1] == 0 and stats.popularity_rank[-1] == 0
    ranked = stats.for_ranking(n_ranked=len(items))
    assert ranked.popularity_pct.max() == 1.0 and ranked.popularity_pct[-1] == 0.0 and ranked.price[-1] == 0.0


def test_fast_read_path_returns_what_get_online_features_returns(shared):
    events, repo, summary, client = shared
    reference = OnlineFeatureClient(client.store, default_timeout_s=5.0, fast_path=False)
    try:
        for uid in sorted(events.user_id.unique()) + ["nobody"]:
            assert client.get_user_profile(uid) == reference.get_user_profile(uid)
        ids = sorted(events.item_id.unique()) + ["nobody"]
        a, b = client.get_item_stats(ids), reference.get_item_stats(ids)
        for name in (
            "found",
            "purchases",
            "impressions",
            "clicks",
            "cancels",
            "cancel_rate",
            "price",
            "first_seen",
            "popularity_rank",
        ):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    finally:
        reference.close()


def _ev(eid, type_, user, item, sec, price=0.0, text=""):
    return Event(eid, EventType(type_), user, item, 1.0, price, int((T0 + sec) * 1000), "s", text)


def test_sink_pushes_the_same_fold_as_the_batch_job(built):
    events, repo, summary, client = built
    before = client.get_user_profile("u1")
    later = 100 * DAY
    batch = [
        _ev("n1", "PURCHASE", "u1", "i3", later, 4.5),
        _ev("n2", "IMPRESSION", "u1", "i9", later + 1),
        _ev("n3", "CLICK", "brand-new-user", "i3", later + 2),
        _ev("n4", "ITEM_UPSERT", "", "sku-new", later + 3, 12.0, "a brand new lamp"),
        _ev("n5", "PURCHASE", "brand-new-user", "sku-new", later + 4, 12.0),
    ]
    embedded: list[list[str]] = []

    def embedder(texts: list[str]) -> np.ndarray:
        embedded.append(texts)
        return np.full((len(texts), 4), 0.5, dtype=np.float32)

    cached = OnlineFeatureClient(client.store, default_timeout_s=5.0, item_cache_ttl_s=3600.0)
    i3_cached = cached.get_item_stats(["i3"]).purchases[0]
    sink = FeastEventSink(client.store, item_embedder=embedder)
    sink.apply(batch)
    # within its TTL the item cache keeps serving what it read; the uncached client sees the push
    assert cached.get_item_stats(["i3"]).purchases[0] == i3_cached
    assert client.get_item_stats(["i3"]).purchases[0] == i3_cached + 1
    cached.close()
    assert embedded == [["a brand new lamp"]]
    after = client.get_user_profile("u1")
    # the online state is exactly the offline fold of (batch state, new events): no skew
    start = user_state_from_row(_last_rows(user_snapshots(events), fn.USER_KEY)["u1"])
    from fulcrum.core.user_state import BehaviourEvent

    want = fold_user_events(
        start,
        [BehaviourEvent("i3", "PURCHASE", T0 + later), BehaviourEvent("i9", "IMPRESSION", T0 + later + 1)],
    )
    assert after.profile == user_profile("u1", want)
    assert after.profile.purchase_count == before.profile.purchase_count + 1
    assert after.profile.recent_items[-1] == "i3" and after.profile.ignored.get("i9", 0) >= 1
    assert after.counts["purchase_count_7d"] == 1  # the window re-anchored 40 days later
    fresh = client.get_user_profile("brand-new-user")
    assert not fresh.miss and fresh.profile.bought == {"sku-new"}
    stats = client.get_item_stats(["sku-new", "i3"])
    assert stats.found.all() and stats.purchases[0] == 1 and stats.price[0] == 12.0
    i3_start = _last_rows(item_snapshots(events), fn.ITEM_KEY)["i3"]
    assert stats.purchases[1] == i3_start[fn.ITEM_PURCHASES] + 1
    assert stats.popularity_rank[1] == i3_start[fn.ITEM_POPULARITY_RANK]  # kept until the next batch run
    found, embs, texts = client.get_item_embeddings(["sku-new", "i3"])
    assert found.tolist() == [True, False] and texts[0] == "a brand new lamp"
    np.testing.assert_allclose(embs[0], [0.5] * 4)
    reference = OnlineFeatureClient(client.store, default_timeout_s=5.0, fast_path=False)
    try:
        assert (
            reference.get_user_profile("u1") == after
            and reference.get_user_profile("brand-new-user") == fresh
        )
        r_found, r_embs, r_texts = reference.get_item_embeddings(["sku-new", "i3"])
        assert r_found.tolist() == found.tolist() and r_texts == texts
    finally:
        reference.close()
    assert fold_item_events(ItemState(), []) == ItemState()


def test_sink_retry_after_a_failed_push_applies_once(built, monkeypatch):
    from online.features.online_write import OnlineRowWriter

    events, repo, summary, client = built
    store = client.store
    real_write = OnlineRowWriter.write
    calls = {"n": 0}

    def flaky_write(self, ids, rows, as_of_s, *journal):
        calls["n"] += 1
        if self.view.name == fn.ITEM_STATS_VIEW and calls["n"] == 2:
            raise ConnectionError("store went away")
        return real_write(self, ids, rows, as_of_s, *journal)

    real_checked = OnlineRowWriter.write_checked

    def flaky_checked(self, *args):  # the compare-and-set path of the Redis store
        calls["n"] += 1
        if self.view.name == fn.ITEM_STATS_VIEW and calls["n"] == 2:
            raise ConnectionError("store went away")
        return real_checked(self, *args)

    monkeypatch.setattr(OnlineRowWriter, "write", flaky_write)
    monkeypatch.setattr(OnlineRowWriter, "write_checked", flaky_checked)
    sink = FeastEventSink(store)
    n0 = client.get_user_profile("u2").profile.purchase_count
    i0 = client.get_item_stats(["i4"]).purchases[0]
    batch = [_ev("r1", "PURCHASE", "u2", "i4", 90 * DAY, 1.0)]
    with pytest.raises(SinkUnavailable, match="item_stats"):
        sink.apply(batch)
    sink.apply(batch)  # the retry: the user write already happened and is not repeated
    assert client.get_user_profile("u2").profile.purchase_count == n0 + 1
    assert client.get_item_stats(["i4"]).purchases[0] == i0 + 1
    # the state cache was dropped on the failure and refilled from what was written: one more
    # batch still folds onto the stored state
    sink.apply([_ev("r2", "PURCHASE", "u2", "i4", 91 * DAY, 1.0)])
    assert client.get_user_profile("u2").profile.purchase_count == n0 + 2
    assert client.get_item_stats(["i4"]).purchases[0] == i0 + 2


def test_direct_online_write_stores_the_bytes_a_push_stores(built, store_kind):
    """OnlineRowWriter (the sink's write path) vs FeatureStore.push, same states, raw rows compared
    (for Redis also the raw hashes, field by field, and their TTL)."""
    from fulcrum.core.item_state import item_state_to_row
    from fulcrum.core.user_state import BehaviourEvent, user_state_to_row
    from online.features import merge
    from online.features.online_write import OnlineRowWriter

    events, repo, summary, client = built
    kind = store_kind[0]
    store = client.store
    user = fold_user_events(
        UserState(),
        [
            BehaviourEvent("i1", "PURCHASE", T0 + 10.123456789),
            BehaviourEvent("i2", "IMPRESSION", T0 + 11.5),
            BehaviourEvent("i3", "CANCEL", T0 + 12.25),
        ],
    )
    item = fold_item_events(ItemState(), merge.item_events([_ev("x", "PURCHASE", "u", "i", 5, 2.5)])["i"])
    online = store._get_provider().online_store
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    # an upserted item's embedding row (the sink writes it directly in push mode "online")
    emb = SimpleNamespace(as_of=T0 + 13.25, vec=np.linspace(-1, 1, 8, dtype=np.float32) / 3, text="red lamp")

    def emb_row(s):
        return {fn.ITEM_EMBEDDING: s.vec.tolist(), fn.ITEM_TEXT: s.text}

    def emb_frame(states):
        (k, s), = states.items()
        return merge.item_embedding_frame({k: s.text}, s.vec[None, :], {k: s.as_of})

    for view, key, state, to_row, frame_of in (
        (fn.USER_BEHAVIOUR_VIEW, fn.USER_KEY, user, user_state_to_row, merge.user_push_frame),
        (fn.ITEM_STATS_VIEW, fn.ITEM_KEY, item, item_state_to_row, merge.item_push_frame),
        (fn.ITEM_EMBEDDING_VIEW, fn.ITEM_KEY, emb, emb_row, emb_frame),
    ):
        # ids of their own per view: item_stats and item_embedding rows share a Redis hash
        push_id, writer_ids = f"{view}-via-push", [f"{view}-via-writer", f"{view}-via-writer-2"]
        store.push(fn.push_source_name(view), frame_of({push_id: state}))
        writer = OnlineRowWriter(store, view, fn.VIEW_FEATURES[view])
        # the direct path of each store is the one under test, not Feast's own write
        assert (writer._is_sqlite, writer._redis is not None) == (kind == "sqlite", kind == "redis")
        # twice, so the second entity's repeated values and the second write's keys come from
        # the writer's memo and key map
        writer.write(writer_ids[:1], [to_row(state)], [float(state.as_of)])
        writer.write(writer_ids, [to_row(state)] * 2, [float(state.as_of)] * 2)
        fv = store.get_feature_view(view)
        keys = [
            EntityKey(join_keys=[key], entity_values=[Value(string_val=i)])
            for i in (push_id, *writer_ids)
        ]
        read = online.online_read(store.config, fv, keys, list(fn.VIEW_FEATURES[view]))
        (ts_a, a) = read[0]
        assert a is not None and len(a) >= len(fn.VIEW_FEATURES[view])
        for ts_b, b in read[1:]:
            assert b is not None and ts_a == ts_b and set(a) == set(b)
            assert {k: v.SerializeToString() for k, v in a.items()} == {
                k: v.SerializeToString() for k, v in b.items()
            }
        if kind == "redis":
            hashes, ttls = redis_hashes(store, keys)
            assert len(hashes[0]) == len(fn.VIEW_FEATURES[view]) + 1  # every feature and _ts:<view>
            assert f"_ts:{view}".encode() in hashes[0]
            assert hashes[1] == hashes[0] and hashes[2] == hashes[0]
            assert ttls == [-1, -1, -1]  # no key_ttl_seconds in feature_store.redis.yaml


def test_point_in_time_training_rows_never_see_the_future(store_kind, tmp_path):
    # The offline (parquet) store is the same for both configurations; running under both proves
    # that a Redis-configured repo trains on the same rows.
    kind, url = store_kind
    t1, t3 = 100.0, 5 * DAY
    events = events_frame(
        [
            ("u1", "A", "PURCHASE", t1, 2.0),
            ("u1", "B", "PURCHASE", t3, 3.0),
            ("u2", "A", "PURCHASE", 2 * DAY, 2.0),
        ]
    )
    repo = copy_repo(tmp_path)
    build_features(events, repo, store=kind, redis_url=url)
    from fulcrum.core.feature_store import open_store

    store = open_store(repo, kind, url)
    at = lambda s: pd.Timestamp((T0 + s) * 1e9, unit="ns", tz="UTC")  # noqa: E731
    labels = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u1", "u1", "u9"],
            "item_id": ["B", "B", "B", "B", "A"],
            "timestamp": [at(t1 - 1), at(t1 + 3600), at(t3 - 0.001), at(t3), at(t3)],
            "label": [1, 1, 1, 1, 0],
        }
    )
    rows = historical_features(store, labels, fn.TRAINING_RANKING_SERVICE)
    assert rows["label"].tolist() == [1, 1, 1, 1, 0]  # order and extra columns kept
    profiles = profiles_from_rows(rows)
    # before the first purchase: no history at all
    assert profiles[0].is_cold and profiles[0].purchase_count == 0
    # after t1 but before t3: B (bought at t3) never appears, even 1 ms before it
    for p in profiles[1:3]:
        assert p.bought == {"A"} and p.purchase_count == 1 and "B" not in p.recent_items
    # at t3 itself the purchase has happened
    assert profiles[3].bought == {"A", "B"} and profiles[3].purchase_count == 2
    assert profiles[4].is_cold  # an unknown user
    # item rows are stamped at the end of their day: at t1 + 1 h (day 0) no item row is visible yet
    assert pd.isna(rows.loc[1, fn.ITEM_PURCHASES])
    # at t3 (day 5): B's own purchase that day is not visible, A's day-0 and day-2 rows are
    assert pd.isna(rows.loc[3, fn.ITEM_PURCHASES])
    assert rows.loc[4, fn.ITEM_PURCHASES] == 2


def test_slow_store_times_out_as_feature_store_unavailable(shared, monkeypatch):
    events, repo, summary, client = shared
    from online.features.fast_read import FastOnlineReader

    online_store = client.store._get_provider().online_store  # Feast's read path
    real, real_fetch = online_store.online_read, FastOnlineReader.fetch  # and the direct one

    # the store's read blocks until the test releases it: a client that waited for the read
    # instead of giving up at its deadline would return only after `finished` is set
    release, finished = threading.Event(), threading.Event()

    def slow(*a, **kw):
        release.wait(30)
        finished.set()
        return real(*a, **kw)

    def slow_fetch(self, ids, nonblocking=False):
        release.wait(30)
        finished.set()
        return real_fetch(self, ids, nonblocking)

    monkeypatch.setattr(online_store, "online_read", slow)
    monkeypatch.setattr(FastOnlineReader, "fetch", slow_fetch)
    try:
        with pytest.raises(FeatureStoreUnavailable, match="within 50 ms"):
            client.get_user_profile("u1", timeout_s=0.05)
        assert not finished.is_set()  # gave up at the deadline, while the read was still running
        with pytest.raises(FeatureStoreUnavailable, match="within 50 ms"):
            client.get_item_stats(["i1"], timeout_s=0.05)
        assert not finished.is_set()
    finally:
        release.set()


@pytest.mark.redis
def test_redis_down_raises_domain_errors(tmp_path, redis_url):
    from tests.fixtures.services import free_port

    repo = copy_repo(tmp_path)
    build_features(synthetic_events(n=20), repo, store="redis", redis_url=redis_url)
    dead = f"redis://127.0.0.1:{free_port()}"
    client = OnlineFeatureClient.open(repo, "redis", dead, default_timeout_s=0.3)
    try:
        with pytest.raises(FeatureStoreUnavailable, match="failed|within 300 ms"):
            client.get_user_profile("u1")
        with pytest.raises(SinkUnavailable):
            FeastEventSink(client.store).apply([_ev("d1", "PURCHASE", "u1", "i1", 10, 1.0)])
    finally:
        client.close()


def test_unapplied_repo_is_unavailable(tmp_path):
    repo = copy_repo(tmp_path)
    with pytest.raises(FeatureStoreUnavailable, match="feast apply"):
        OnlineFeatureClient.open(repo, "sqlite")


@pytest.mark.slow
def test_online_feature_code_does_not_import_torch(tmp_path):
    repo = copy_repo(tmp_path)
    code = (
        "import sys\n"
        "from online.features.client import OnlineFeatureClient\n"
        "from online.features.sink import FeastEventSink\n"
        "from fulcrum.core.feature_store import open_store\n"
        f"open_store({str(repo)!r}, 'sqlite')\n"
        "import feast.online_response\n"
        "bad = sorted(m for m in ('torch', 'transformers', 'offline') if m in sys.modules)\n"
        "print('BAD', bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "BAD []" in out.stdout


def test_materialize_latest_writes_what_feast_materialize_writes(shared, store_kind, tmp_path):
    events, _, _, feast_client = shared
    kind, url = store_kind
    repo = copy_repo(tmp_path)
    summary = build_features(events, repo, store=kind, redis_url=url, materialize_mode="latest")
    assert summary.online_rows[fn.USER_BEHAVIOUR_VIEW] == events.user_id.nunique()
    latest = OnlineFeatureClient.open(repo, kind, url, default_timeout_s=5.0)
    try:
        for uid in sorted(events.user_id.unique()):
            assert latest.get_user_profile(uid) == feast_client.get_user_profile(uid)
        ids = sorted(events.item_id.unique())
        a, b = latest.get_item_stats(ids), feast_client.get_item_stats(ids)
        for name in ("purchases", "impressions", "cancel_rate", "price", "first_seen", "popularity_rank"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    finally:
        latest.close()


def test_writer_encodings_of_repeated_and_look_alike_values(shared):
    """The writer's memo shares encodings of repeated ints and strings, never of floats: 0.0 and
    -0.0 compare equal but are different bytes; NaN and None are the null Value."""
    from feast.protos.feast.types.Value_pb2 import Value

    from online.features.online_write import OnlineRowWriter

    store = shared[3].store
    writer = OnlineRowWriter(store, fn.ITEM_STATS_VIEW, [fn.ITEM_PRICE, fn.ITEM_PURCHASES])
    rows = writer.rows(
        ["a", "b", "c", "d"],
        [
            {fn.ITEM_PRICE: 0.0, fn.ITEM_PURCHASES: 3},
            {fn.ITEM_PRICE: -0.0, fn.ITEM_PURCHASES: 3},
            {fn.ITEM_PRICE: float("nan"), fn.ITEM_PURCHASES: None},
            {fn.ITEM_PRICE: 2.5, fn.ITEM_PURCHASES: True},  # an int feature: True is 1
        ],
        [1.0] * 4,
    )
    got = [{k: v.SerializeToString() for k, v in values.items()} for _, values, _, _ in rows]
    want = [
        (Value(double_val=0.0), Value(int64_val=3)),
        (Value(double_val=-0.0), Value(int64_val=3)),
        (Value(), Value()),
        (Value(double_val=2.5), Value(int64_val=1)),
    ]
    assert got == [
        {fn.ITEM_PRICE: p.SerializeToString(), fn.ITEM_PURCHASES: n.SerializeToString()} for p, n in want
    ]
    assert got[0][fn.ITEM_PRICE] != got[1][fn.ITEM_PRICE]
    assert rows[0][1][fn.ITEM_PURCHASES] is rows[1][1][fn.ITEM_PURCHASES]  # one shared message
    assert rows[0][0] is writer.rows(["a"], [{}], [1.0])[0][0]  # the entity key is built once


@pytest.mark.redis
def test_a_redis_that_never_answers_is_bounded_by_the_deadline(tmp_path, redis_url):
    """A Redis that accepts connections and never replies: redis-py would wait (and retry) on its
    own; the client's deadline gives up with the deadline's message. No clock is read here: the
    message is the deadline path's, and the socket never answered anything."""
    repo = copy_repo(tmp_path)
    build_features(synthetic_events(n=20), repo, store="redis", redis_url=redis_url)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # the kernel completes the handshakes; nobody ever reads or answers
    url = f"redis://127.0.0.1:{silent.getsockname()[1]}"
    client = OnlineFeatureClient.open(repo, "redis", url, default_timeout_s=0.3)
    try:
        with pytest.raises(FeatureStoreUnavailable, match="within 300 ms"):
            client.get_user_profile("u1")
    finally:
        client.close()
        silent.close()  # resets the pending connections: a reader still blocked gets an error
