"""The direct row read (online/features/row_fetch.py) against Feast's own ``online_read``, on a
real SQLite file and a real redis-server: the same stored ``Value`` bytes for every feature of
every entity (users with long histories and empty lists included, unknown ids too), the same
decoded values, and the event-loop read of one user waiting for nobody."""

from __future__ import annotations

import asyncio
import sqlite3

import pandas as pd
import pytest

from fulcrum.core import feature_names as fn
from offline.features.pipeline import build_features
from online.features.client import OnlineFeatureClient
from online.features.fast_read import FastOnlineReader
from online.features.row_fetch import StoreBusy
from tests.feature_repo_copy import copy_repo, events_frame, synthetic_events

STORES = ["sqlite", pytest.param("redis", marks=pytest.mark.redis)]


@pytest.fixture(scope="module", params=STORES)
def built(request, tmp_path_factory):
    kind = request.param
    url = request.getfixturevalue("redis_url") if kind == "redis" else None
    # 40 users over 25 items: some users buy many items (long lists), some only view (empty lists)
    events = synthetic_events(n=600, users=40, items=25)
    # a user who only looked (empty bought/cancelled lists)
    only_views = events_frame([("viewer", "i1", "VIEW", 100.0, 0.0), ("viewer", "i2", "VIEW", 200.0, 0.0)])
    events = pd.concat([events, only_views], ignore_index=True)
    repo = copy_repo(tmp_path_factory.mktemp(f"fast-{kind}"))
    build_features(events, repo, store=kind, redis_url=url)
    client = OnlineFeatureClient.open(repo, kind, url, default_timeout_s=5.0)
    yield kind, events, client
    client.close()


def _feast_bytes(store, reader: FastOnlineReader, ids: list[str]) -> list[list[dict[str, bytes]]]:
    """Per view, per id: what Feast's online_read returns, serialised ({} for no row)."""
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    online = store._get_provider().online_store
    keys = [EntityKey(join_keys=[reader.key], entity_values=[Value(string_val=i)]) for i in ids]
    out = []
    for view, names, _ in reader.views:
        rows = online.online_read(store.config, view, keys, list(names))
        out.append(
            [
                {k: v.SerializeToString() for k, v in (values or {}).items() if k in names}
                for _, values in rows
            ]
        )
    return out


@pytest.mark.parametrize(
    ("service", "kind_of_id"),
    [
        (fn.RECOMMEND_USER_SERVICE, "user_id"),
        (fn.SEARCH_ITEMS_SERVICE, "item_id"),
        (fn.RECOMMEND_ITEMS_SERVICE, "item_id"),
    ],
)
def test_direct_rows_are_the_bytes_feast_reads(built, service, kind_of_id):
    kind, events, client = built
    store = client.store
    direct = FastOnlineReader.for_service(store, service)
    via_feast = FastOnlineReader.for_service(store, service, direct=False)
    assert direct.backend == kind and via_feast.backend == "feast"
    ids = sorted(events[kind_of_id].unique()) + ["nobody", ""]
    want = _feast_bytes(store, direct, ids)
    # one id at a time (the serving path) and all at once (the sink's read-back)
    got_one = [direct.fetch([i]) for i in ids]
    got_all = direct.fetch(ids)
    n_values = 0
    for v in range(len(direct.views)):
        for j, i in enumerate(ids):
            a, b, c = want[v][j], got_all[v][j], got_one[j][v][0]
            assert b == a, f"{kind} view {direct.views[v][0].name} id {i!r}"
            assert c == a, f"{kind} view {direct.views[v][0].name} id {i!r} (single read)"
            n_values += sum(1 for x in a.values() if x)
    assert n_values > len(ids)  # the comparison saw real stored values, not only empty rows
    # decoded: the same columns as the reader going through online_read
    assert direct.read(ids) == via_feast.read(ids)
    for i in ids:
        assert direct.read_one(i) == {f: col[0] for f, col in via_feast.read([i]).items() if f != direct.key}


def test_user_rows_with_long_and_empty_lists_decode_alike(built):
    kind, events, client = built
    reader = FastOnlineReader.for_service(client.store, fn.RECOMMEND_USER_SERVICE)
    rows = [reader.read_one(u) for u in sorted(events.user_id.unique())]
    lengths = [len(r[fn.BOUGHT] or []) for r in rows]
    assert max(lengths) >= 5 and min(lengths) == 0  # both kinds are in the data
    assert all(r[fn.AS_OF] is not None for r in rows)
    assert all(v is None for v in reader.read_one("nobody").values())


def test_event_loop_read_equals_worker_read_and_waits_for_no_lock(built):
    kind, events, client = built
    user = str(events.user_id.iloc[0])

    async def both():
        return await client.get_user_profile_async(user), client.get_user_profile(user)

    on_loop, in_thread = asyncio.run(both())
    assert on_loop == in_thread and not on_loop.miss
    reader = client._readers[fn.RECOMMEND_USER_SERVICE]
    if kind != "sqlite":
        assert reader.may_block
        with pytest.raises(StoreBusy):
            reader.read_one(user, nonblocking=True)
        return
    # a writer holding the file's write lock through its commit: the non-blocking read says so at
    # once (the event loop is never blocked), the async read still answers through a worker thread
    path = client.store._get_provider().online_store._get_db_path(client.store.config)
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreBusy):
            reader.read_one(user, nonblocking=True)

        async def read_then_release():
            task = asyncio.ensure_future(client.get_user_profile_async(user, timeout_s=5.0))
            await asyncio.sleep(0.05)
            assert not task.done()  # waiting in a worker thread for the lock, loop still running
            writer.execute("COMMIT")
            return await task

        assert asyncio.run(read_then_release()) == in_thread
    finally:
        if writer.in_transaction:
            writer.execute("ROLLBACK")
        writer.close()
