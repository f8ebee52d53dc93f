"""The direct Redis write (online/features/redis_write.py) against a real redis-server, beyond the
byte-identity check of tests/online/features/test_feature_store.py (which runs with the repo's own Redis
config):
Feast's dedup rule and key TTL when configured, error replies, and which configs take the path."""

from __future__ import annotations

from types import SimpleNamespace

import feast
import pytest
import redis
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.redis import RedisOnlineStore
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value

from fulcrum.core import feature_names as fn
from fulcrum.core.feature_store import open_store, repo_config_dict
from offline.features.pipeline import build_features
from online.features.online_write import OnlineRowWriter
from online.features.redis_write import is_plain_redis
from tests.feature_repo_copy import copy_repo, redis_hashes, synthetic_events

pytestmark = pytest.mark.redis


def _item(i: str) -> EntityKey:
    return EntityKey(join_keys=[fn.ITEM_KEY], entity_values=[Value(string_val=i)])


@pytest.fixture(scope="module")
def repo(tmp_path_factory, redis_url):
    """One applied repo copy (its own project, so its own Redis keys) for the module."""
    repo = copy_repo(tmp_path_factory.mktemp("redis-write"))
    build_features(synthetic_events(n=20), repo, store="redis", redis_url=redis_url)
    return repo


def test_direct_redis_write_keeps_feasts_dedup_and_ttl(repo, redis_url):
    """With skip_dedup off and a key TTL, the direct Redis path and Feast's own
    RedisOnlineStore.online_write_batch, given the same rows in the same order, leave the same
    hashes: older and same-instant rows skipped (against the store and within one batch), the
    TTL set on every write."""
    raw = repo_config_dict(repo, "redis", redis_url)
    raw["online_store"].update(skip_dedup=False, key_ttl_seconds=3600)
    cfg = feast.RepoConfig(**raw)
    cfg.repo_path = repo
    store = feast.FeatureStore(repo_path=str(repo), config=cfg)
    view, features = fn.ITEM_STATS_VIEW, [fn.ITEM_PURCHASES, fn.ITEM_PRICE]
    writer = OnlineRowWriter(store, view, features)
    assert writer._redis is not None
    online = store._get_provider().online_store
    # (ids, purchases, event seconds) per batch; "x" repeats across and within batches
    batches = [
        (["x", "y"], [1, 1], [100.0, 100.0]),
        (["x"], [2], [50.0]),  # older than the stored row: skipped
        (["x"], [3], [100.0]),  # the same instant: skipped
        (["x", "x"], [5, 6], [300.0, 250.0]),  # the second is older than the first of its batch
        (["x", "y", "x"], [7, 8, 9], [400.5, 99.0, 400.5]),  # y older; x's second the same instant
    ]
    for ids, counts, ts in batches:
        rows = [{fn.ITEM_PURCHASES: c, fn.ITEM_PRICE: 2.5} for c in counts]
        online.online_write_batch(store.config, writer.view, writer.rows(ids, rows, ts), None)
        writer.write([f"direct-{i}" for i in ids], rows, ts)
    hashes, ttls = redis_hashes(store, [_item(i) for i in ("x", "direct-x", "y", "direct-y")])
    assert hashes[0] == hashes[1] and hashes[2] == hashes[3]
    assert all(0 < t <= 3600 for t in ttls)
    got = online.online_read(store.config, writer.view, [_item("direct-x"), _item("direct-y")], features)
    # x: 1 @100, 2 and 3 skipped, 5 @300 (6 @250 skipped), 7 @400.5 (9 at the same instant skipped)
    assert got[0][1][fn.ITEM_PURCHASES].int64_val == 7 and got[1][1][fn.ITEM_PURCHASES].int64_val == 1
    assert got[0][0].timestamp() == 400.5


def test_direct_redis_write_error_reply_is_raised_after_the_whole_batch(repo, redis_url):
    """An error reply (a key that is not a hash) fails the write like Feast's pipeline does: every
    other row of the round trip is written, the first error raised, the connection still in step."""
    store = open_store(repo, "redis", redis_url)
    writer = OnlineRowWriter(store, fn.ITEM_STATS_VIEW, [fn.ITEM_PURCHASES])
    keys = [_item(i) for i in ("a", "b", "c")]
    client = store._get_provider().online_store._get_client(store.config.online_store)
    version = store.config.entity_key_serialization_version
    bad = serialize_entity_key(keys[1], entity_key_serialization_version=version)
    bad += store.config.project.encode()
    client.set(bad, b"not a hash")
    rows = [{fn.ITEM_PURCHASES: n} for n in (1, 2, 3)]
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        writer.write(["a", "b", "c"], rows, [10.0] * 3)
    assert client.get(bad) == b"not a hash"
    hashes, _ = redis_hashes(store, [keys[0], keys[2]])
    assert all(len(h) == 2 for h in hashes)  # written: the feature and _ts:<view>
    writer.write(["c"], [{fn.ITEM_PURCHASES: 4}], [11.0])  # the next round trip reads its own reply
    got = store._get_provider().online_store.online_read(store.config, writer.view, [keys[2]], None)
    assert got[0][1][fn.ITEM_PURCHASES].int64_val == 4


def test_direct_redis_path_only_for_the_plain_redis_config(repo, redis_url):
    """A subclass of RedisOnlineStore (it may write differently) or a cluster / sentinel config
    goes through Feast's own online_write_batch."""
    store = open_store(repo, "redis", redis_url)
    online, config = store._get_provider().online_store, store.config

    class Custom(RedisOnlineStore):
        pass

    assert is_plain_redis(online, config)
    assert not is_plain_redis(Custom(), config)
    for kind in ("redis_cluster", "redis_sentinel"):
        osc = config.online_store.model_copy(update={"redis_type": kind})
        assert not is_plain_redis(online, SimpleNamespace(online_store=osc))
