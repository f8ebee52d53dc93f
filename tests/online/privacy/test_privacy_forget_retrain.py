"""Forget -> retrain on a TRAINED bundle, end to end, with the tiny BERT: a shop whose training
data holds user X (a distinctive id, so a byte search cannot match by chance), a tiny bundle
trained and exported on it, X's live events in the offline store and in the Feast online stores
(SQLite and the real Redis); then `fulcrum forget --user X` (without touching the shop's own
export, which still lists X, as a re-export from the shop system would) and `fulcrum retrain`.
Every file of the new bundle, of the retraining's work folder (merged data, run, reports,
samples), of the offline store and of the Feast repos, and every Redis key and value, is
searched for X's id afterwards; the same search finds X in the first bundle's world before."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fulcrum.core import schema as S

pytestmark = [pytest.mark.slow, pytest.mark.redis]
X = "forget-me-retrain-3b8e1d"


def _files_with(root: Path, needle: bytes) -> list[str]:
    """Every file under ``root`` whose bytes hold ``needle`` (parquet pages may be compressed:
    parquet files are also searched by their decoded string columns)."""
    hits = []
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        if needle in path.read_bytes():
            hits.append(str(path))
        elif path.suffix == ".parquet":
            frame = pd.read_parquet(path)
            for column in frame.columns:
                if frame[column].dtype == object and frame[column].astype(str).str.contains(
                        needle.decode(), regex=False).any():
                    hits.append(f"{path}:{column}")
                    break
    return hits


def _redis_values(url: str) -> list[bytes]:
    import redis

    client, out = redis.Redis.from_url(url), []
    for key in client.scan_iter(count=1000):
        out.append(key)
        kind = client.type(key)
        if kind == b"hash":
            for f, v in client.hgetall(key).items():
                out += [f, v]
        elif kind == b"string":
            out.append(client.get(key) or b"")
        elif kind == b"set":
            out += list(client.smembers(key))
    return out


def test_forget_then_retrain_leaves_no_trace_of_the_user(tiny_bert_dir, redis_url, tmp_path, monkeypatch):
    import yaml

    from fulcrum.cli import app
    from fulcrum.core.events import Event
    from fulcrum.core.forgotten import user_digest
    from fulcrum.core.schema import EventType
    from offline.export.tiny import TINY_CONFIG, build_tiny_bundle
    from offline.features.pipeline import build_features
    from offline.pipeline.promotion import LATEST, point_latest
    from online.features.client import OnlineFeatureClient
    from online.features.sink import FeastEventSink
    from online.ingest.offline_sink import OfflineAppendSink
    from tests.feature_repo_copy import copy_repo

    # ---- a shop with X, a bundle trained on it ----------------------------------------------
    shop = tmp_path / "shop"
    first = build_tiny_bundle(shop, bert_dir=tiny_bert_dir, ranker="off")
    data = shop / "data"
    events = pd.read_parquet(data / S.EVENTS_FILE)
    # X is an active user of the shop (the 5th most active: without the heaviest ones the tiny
    # shop's validation slice may hold no purchase): rename them in the shop's export, train again
    chosen = events[S.USER_ID].astype(str).value_counts().index[4]
    events[S.USER_ID] = events[S.USER_ID].astype(str).replace({chosen: X})
    events.to_parquet(data / S.EVENTS_FILE, index=False)
    n_x = int(events[S.USER_ID].eq(X).sum())
    assert n_x >= 3
    cfg = {**TINY_CONFIG, "ranker": "off", "text": {**TINY_CONFIG["text"], "model_path": str(tiny_bert_dir)}}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    root = tmp_path / "bundles"
    root.mkdir()
    runner = CliRunner()
    train = runner.invoke(app, ["retrain", "--data", str(data), "--out", str(root), "--config",
                                str(tmp_path / "tiny.yaml"), "--work", str(tmp_path / "work-1"),
                                "--tolerance", "1.0", "--no-progress"])
    assert train.exit_code == 0, train.output
    bundle_1 = (root / LATEST).resolve()
    assert bundle_1 != first

    # ---- X's live events: the offline store, the Feast online stores (SQLite, Redis) ---------
    offline = tmp_path / "offline"
    items = [str(i) for i in events[S.ITEM_ID].unique()[:3]]
    other = events[S.USER_ID].astype(str).value_counts().index[5]
    # inside the shop's time range, so the retraining's validation window is the shop's
    t0 = int(events[S.TIMESTAMP].max().value // 1_000_000) - 86_400_000
    live = [Event(f"live-{k}", EventType.PURCHASE, u, items[k % 3], 1.0, 2.0, t0 + k, "")
            for k, u in enumerate([X, X, other, X])]
    OfflineAppendSink(offline).apply(live)
    repos = {"sqlite": copy_repo(tmp_path / "feast-sqlite"), "redis": copy_repo(tmp_path / "feast-redis")}
    for kind, repo in repos.items():
        url = redis_url if kind == "redis" else None
        build_features(events, repo, store=kind, redis_url=url)
        client = OnlineFeatureClient.open(repo, kind, url, default_timeout_s=5.0)
        FeastEventSink(client.store).apply(live)
        assert not client.get_user_profile(X).miss
        client.close()

    # the search finds X everywhere before the forget (so its silence afterwards means something)
    needle = X.encode()
    assert _files_with(tmp_path / "work-1", needle)  # the first training's data
    assert _files_with(offline, needle) and _files_with(repos["sqlite"] / "data", needle)
    assert any(needle in v for v in _redis_values(redis_url))
    # a bundle holds item-side artefacts only (no user-keyed file): X is not in the first one
    assert _files_with(bundle_1, needle) == []

    # ---- forget X (the shop's export is left alone: it still lists X) --------------------------
    for kind, repo in repos.items():
        args = ["forget", "--user", X, "--offline-dir", str(offline), "--feature-repo", str(repo),
                "--store", kind] + (["--redis-url", redis_url] if kind == "redis" else [])
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert X not in result.output
    assert pd.read_parquet(data / S.EVENTS_FILE)[S.USER_ID].eq(X).sum() == n_x

    # ---- retrain: the serving bundle is the first one --------------------------------------------
    point_latest(root, bundle_1)
    retrain = runner.invoke(app, ["retrain", "--data", str(data), "--out", str(root), "--offline-dir",
                                  str(offline), "--config", str(tmp_path / "tiny.yaml"), "--work",
                                  str(tmp_path / "work-2"), "--tolerance", "1.0", "--no-progress"])
    assert retrain.exit_code == 0, retrain.output
    bundle_2 = (root / LATEST).resolve()
    assert bundle_2 != bundle_1 and "PROMOTED" in retrain.output
    merged = pd.read_parquet(tmp_path / "work-2" / "data" / S.EVENTS_FILE)
    assert not merged[S.USER_ID].astype(str).eq(X).any()
    assert "live-2" in set(merged[S.EVENT_ID])  # the other user's live event is in

    # the feature job run again on the shop's export (which still lists X): X stays out
    summary = build_features(events, repos["sqlite"], store="sqlite")
    assert summary.forgotten_events == n_x

    # ---- nothing of X anywhere we keep ----------------------------------------------------------
    for place in (bundle_2, tmp_path / "work-2", offline, repos["sqlite"], repos["redis"]):
        assert _files_with(place, needle) == [], place
    assert not any(needle in v for v in _redis_values(redis_url))
    for kind, repo in repos.items():
        client = OnlineFeatureClient.open(repo, kind, redis_url if kind == "redis" else None,
                                          default_timeout_s=5.0)
        assert client.get_user_profile(X).miss
        client.close()
    # the ledger and the Redis tombstone hold X's digest, never X
    digest = user_digest(X).encode()
    assert digest in (offline / "forgotten_users.sha256").read_bytes()
    assert digest in _redis_values(redis_url)
    shutil.rmtree(tmp_path / "work-1")  # the first training's data was X's (kept by the caller)
