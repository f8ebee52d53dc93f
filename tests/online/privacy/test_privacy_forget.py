"""ForgetUser end to end on a real server with a real Feast repo (SQLite, and the real Redis):
the user's events are ingested through IngestEvents (online store, offline store, idempotency
keys), then erased; every store is searched afterwards, and the data the next retraining trains
on has none of their events even when the prepared data still had them."""

from __future__ import annotations

import asyncio
import shutil
import time

import grpc
import pandas as pd
import pytest

from fulcrum.core import feature_names as fn
from fulcrum.core import schema as S
from fulcrum.v1 import recommender_pb2 as pb

pytest.importorskip("feast")
STORES = ["sqlite", pytest.param("redis", marks=pytest.mark.redis)]
GHOST = "forget-me-7f3a9c"  # a new user: no other id contains this string
NOW_MS = int(time.time() * 1000)


@pytest.fixture(params=STORES)
def shop(request, tiny_bundle, tmp_path, monkeypatch):
    from offline.features.pipeline import build_features
    from online.features.client import OnlineFeatureClient
    from tests.feature_repo_copy import copy_repo

    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    if url:
        monkeypatch.setenv("FULCRUM_REDIS_URL", url)
    prepared = shutil.copytree(tiny_bundle.parent.parent / "data", tmp_path / "prepared")
    events = pd.read_parquet(prepared / "events.parquet")
    repo = copy_repo(tmp_path / "feast")
    build_features(events, repo, items=pd.read_parquet(prepared / "items.parquet"),
                   store=request.param, redis_url=url, bundle=tiny_bundle)
    client = OnlineFeatureClient.open(repo, request.param, url, default_timeout_s=5.0)
    yield request.param, url, prepared, repo, client
    client.close()


def _events(user: str, items: list[str], prefix: str) -> list[pb.Event]:
    return [pb.Event(event_id=f"{prefix}-{i}", type=pb.PURCHASE, user_id=user, item_id=item, quantity=1,
                     price=2.0, timestamp_ms=NOW_MS - 1000 * i) for i, item in enumerate(items)]


def _sqlite_bytes(repo) -> bytes:
    out = b""
    for path in (repo / "data").glob("online*.db*"):
        out += path.read_bytes()
    return out


def _sqlite_journal(repo, ids: list[str]) -> int:
    import sqlite3

    from online.features.applied import SQLITE_TABLE

    found = 0
    for path in (repo / "data").glob("online*.db"):
        with sqlite3.connect(path) as conn:
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (SQLITE_TABLE,)).fetchone():
                marks = ",".join("?" * len(ids))
                sql = f"SELECT count(*) FROM {SQLITE_TABLE} WHERE event_id IN ({marks})"
                found += conn.execute(sql, ids).fetchone()[0]
    return found


def _redis_dump(url: str) -> list[bytes]:
    import redis

    client = redis.Redis.from_url(url)
    out = []
    for key in client.scan_iter(count=1000):
        out.append(key)
        if client.type(key) == b"hash":
            for f, v in client.hgetall(key).items():
                out += [f, v]
        elif client.type(key) == b"string":
            out.append(client.get(key))
    return out


def test_forget_user_end_to_end(tiny_bundle, shop, tmp_path):
    from offline.pipeline.offline_store import write_retrain_data
    from online.features.sink import FeastEventSink
    from online.ingest.dedupe import RedisDedupe
    from online.ingest.offline_sink import OfflineAppendSink
    from online.ingest.sink import FanoutSink
    from online.privacy.forget import Forgetter
    from online.privacy.tombstones import forget_aware
    from online.server.feature_source import FeastFeatureSource
    from tests.serving_helpers import serving

    store_kind, url, prepared, repo, client = shop
    offline = tmp_path / "offline"
    prepared_events = pd.read_parquet(prepared / "events.parquet")
    known = prepared_events[S.USER_ID].value_counts().index[0]  # a user of the prepared data
    items = [str(i) for i in prepared_events[S.ITEM_ID].unique()[:4]]
    ghost_events = _events(GHOST, items, "g")
    known_events = _events(known, items, "k")
    other_events = _events("someone-else", items, "o")
    ids = [e.event_id for e in ghost_events + known_events]
    if url:  # what the ingest consumers keep in Redis for the same events
        RedisDedupe.from_url(url).mark(ids)

    async def body():
        source = FeastFeatureSource(client)
        # as `fulcrum serve` wires it (online/server/command.py): forgotten users' events dropped
        sink = forget_aware(FanoutSink([FeastEventSink(client.store), OfflineAppendSink(offline)]),
                            offline_dir=offline, feature_repo=repo, feature_store=client.store, door="grpc")
        config = {"offline_dir": str(offline), "feature_repo": str(repo), "feature_timeout_ms": 5000}
        async with serving(tiny_bundle, source, sink, **config) as (stub, server, *_):
            await stub.IngestEvents(iter(ghost_events + known_events + other_events), timeout=60)
            before = client.get_user_profile(GHOST)
            # the search below can find the user: it finds them now
            found = GHOST.encode() in _sqlite_bytes(repo) if store_kind == "sqlite" else any(
                GHOST.encode() in b for b in _redis_dump(url)
            )
            assert found
            # ... and the applied-events journal of the feature views holds their event ids
            if store_kind == "sqlite":
                assert _sqlite_journal(repo, ids) > 0
            else:
                assert any(i.encode() in b for b in _redis_dump(url) for i in ids)
            reply = await stub.ForgetUser(pb.ForgetUserRequest(user_id=GHOST), timeout=60)
            reply_known = await stub.ForgetUser(pb.ForgetUserRequest(user_id=known), timeout=60)
            again = await stub.ForgetUser(pb.ForgetUserRequest(user_id=GHOST), timeout=60)
            # events of the forgotten user still arriving (sent before the forget reached the
            # shop): dropped, so nothing below finds them
            await stub.IngestEvents(iter(_events(GHOST, items, "late")), timeout=60)
            with pytest.raises(grpc.aio.AioRpcError) as empty:
                await stub.ForgetUser(pb.ForgetUserRequest(user_id=" "), timeout=60)
            cold = await stub.Recommend(pb.RecommendRequest(user_id=GHOST, k=3), timeout=30)
            seen = server.servicer.pipeline.dedupe.seen(ids)
        return before, reply, reply_known, again, empty.value, cold, seen

    before, reply, reply_known, again, empty, cold, seen = asyncio.run(body())
    # it was there ...
    assert not before.miss and before.profile.purchase_count >= 1
    assert reply.offline_events == 4 and reply.online_entries >= 1
    assert reply_known.offline_events == 4 and reply_known.batch_rows >= 1
    assert (again.offline_events, again.online_entries, again.idempotency_keys) == (0, 0, 0)
    assert empty.code() == grpc.StatusCode.INVALID_ARGUMENT
    # ... and now it is nowhere. The online store:
    if store_kind == "sqlite":
        assert GHOST.encode() not in _sqlite_bytes(repo)  # deleted pages are zeroed too
        assert _sqlite_journal(repo, ids) == 0  # the applied-events journal of their events
    else:
        assert not any(GHOST.encode() in b for b in _redis_dump(url))
        assert not any(i.encode() in b for b in _redis_dump(url) for i in ids)  # idempotency keys
    assert client.get_user_profile(GHOST).miss and client.get_user_profile(known).miss
    assert cold.items and all(i.reason == pb.COLD_START for i in cold.items)
    # the idempotency store of the server
    assert seen == [False] * len(ids)
    # the offline store and the Feast batch sources
    for path in list(offline.rglob("*.parquet")) + list((repo / "data").glob("*.parquet")):
        frame = pd.read_parquet(path)
        for column in (S.USER_ID, fn.USER_KEY):
            if column in frame.columns:
                assert not frame[column].astype(str).isin([GHOST, known]).any(), path
    assert any(pd.read_parquet(p)[S.USER_ID].eq("someone-else").any() for p in offline.rglob("*.parquet"))
    # the next retraining: even if the prepared data (re-exported from the shop) still has them
    summary = write_retrain_data(prepared, offline, tmp_path / "retrain")
    retrain_events = pd.read_parquet(tmp_path / "retrain" / S.EVENTS_FILE)
    assert summary.merged == len(retrain_events) and known in set(prepared_events[S.USER_ID])
    assert not retrain_events[S.USER_ID].astype(str).isin([GHOST, known]).any()
    # the CLI path erases the prepared data itself
    Forgetter(offline_dir=offline, prepared_dirs=[prepared]).forget(known)
    assert not pd.read_parquet(prepared / "events.parquet")[S.USER_ID].astype(str).eq(known).any()


def test_the_forget_command_erases_offline_events_and_writes_the_ledger(tmp_path):
    import subprocess
    import sys

    from fulcrum.core.forgotten import LEDGER, user_digest

    def frame(users):
        n = len(users)
        return pd.DataFrame({
            S.EVENT_ID: [f"e{i}" for i in range(n)], S.USER_ID: users, S.ITEM_ID: ["i1"] * n,
            S.EVENT_TYPE: ["PURCHASE"] * n, S.QUANTITY: [1.0] * n, S.PRICE: [1.0] * n,
            S.TIMESTAMP: pd.to_datetime([NOW_MS] * n, unit="ms", utc=True), S.SESSION_ID: [""] * n,
            S.SPLIT: ["train"] * n,
        }, columns=list(S.EVENT_COLUMNS))

    part = tmp_path / "offline" / "ingested" / "events"
    part.mkdir(parents=True)
    frame(["a", "x", "x"]).to_parquet(part / "part-1.parquet", index=False)
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    frame(["x", "b"]).to_parquet(prepared / S.EVENTS_FILE, index=False)
    run = subprocess.run(
        [sys.executable, "-m", "fulcrum.cli", "forget", "--user", "x",
         "--offline-dir", str(tmp_path / "offline"), "--data", str(prepared)],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "erased: 3 offline events (2 files)" in run.stdout
    assert list(pd.read_parquet(part / "part-1.parquet")[S.USER_ID]) == ["a"]
    assert list(pd.read_parquet(prepared / S.EVENTS_FILE)[S.USER_ID]) == ["b"]
    assert (tmp_path / "offline" / LEDGER).read_text().split() == [user_digest("x")]
    assert "x" not in (tmp_path / "offline" / LEDGER).read_text().split()
