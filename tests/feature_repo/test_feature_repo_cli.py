"""feature_repo/ is a plain Feast repo: the `feast` CLI applies and materialises it from inside the
folder, with the SQLite configuration and (with -f) the Redis one."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fulcrum.core import feature_names as fn
from fulcrum.core.feature_store import ENV_FEAST_REDIS, redis_connection_string
from offline.features import batch
from online.features.client import OnlineFeatureClient
from tests.feature_repo_copy import ROOT, copy_repo, synthetic_events

FEAST = Path(sys.executable).with_name("feast")


def _write_sources(repo: Path):
    events = synthetic_events(n=120)
    data = repo / "data"
    batch.write_parquet(batch.user_snapshots(events), fn.USER_BEHAVIOUR_VIEW, data)
    batch.write_parquet(batch.item_snapshots(events), fn.ITEM_STATS_VIEW, data)
    batch.write_parquet(batch.user_embeddings_empty(), fn.USER_EMBEDDING_VIEW, data)
    batch.write_parquet(
        batch.item_embedding_rows([], [], None, events.timestamp.min()), fn.ITEM_EMBEDDING_VIEW, data
    )
    return events


def _feast(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(
        [str(FEAST), *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )
    assert out.returncode == 0, f"feast {' '.join(args)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    return out.stdout


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_feast_cli_apply_and_materialize_incremental(kind, tmp_path, request):
    repo = copy_repo(tmp_path)
    events = _write_sources(repo)
    env, flags, url = None, [], None
    if kind == "redis":
        url = request.getfixturevalue("redis_url")
        env = {ENV_FEAST_REDIS: redis_connection_string(url)}
        flags = ["-f", "feature_store.redis.yaml"]
    _feast(repo, *flags, "apply", env=env)
    from fulcrum.core.feature_store import open_store

    applied = open_store(repo, kind, url)
    assert sorted(s.name for s in applied.list_feature_services()) == sorted(fn.SERVICES)
    assert sorted(v.name for v in applied.list_feature_views()) == sorted(fn.VIEWS)
    sources = {d.name for d in applied.list_data_sources()}
    assert {fn.push_source_name(v) for v in fn.VIEWS} <= sources
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    _feast(repo, *flags, "materialize-incremental", now, env=env)
    client = OnlineFeatureClient.open(repo, kind, url, default_timeout_s=5.0)
    try:
        # every event is in the past, so the materialised row is a user's whole history: the
        # purchase count read back is the number of that user's PURCHASE events, counted here
        # from the events themselves (the user with the most, so a zero read would be wrong)
        bought = events[events.event_type == "PURCHASE"].user_id.value_counts()
        user, purchases = str(bought.index[0]), int(bought.iloc[0])
        got = client.get_user_profile(user)
        assert not got.miss and got.as_of is not None
        assert got.profile.purchase_count == purchases > 0
        assert client.get_item_stats(["i1"]).found.all()
        assert client.get_user_profile("nobody").miss  # an unknown user is a miss, not a zero row
    finally:
        client.close()
