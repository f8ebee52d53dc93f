"""Retraining: the promotion rule (hand-worked), the offline-store merge, and `fulcrum retrain`
end to end on the tiny bundle: a worse candidate is refused, a better one promoted and a real
server reloads it."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fulcrum.core import bundle_format as bf
from fulcrum.core import schema as S
from offline.pipeline.offline_store import merge_events, merge_items
from offline.pipeline.promotion import LATEST, decide, point_latest, publish

# ---- the rule ---------------------------------------------------------------------------------


def test_decide_promotes_only_when_at_least_as_good() -> None:
    serving = {"users": 100, "ndcg@10": 0.100}
    # better: 0.12 >= 0.10
    assert decide({"users": 100, "ndcg@10": 0.120}, serving).promote
    # exactly as good (identical bundles evaluate to identical floats): promote
    d = decide({"users": 100, "ndcg@10": 0.100}, serving)
    assert d.promote and d.reason.startswith("as good") and d.delta == 0.0
    # worse by 0.001: refused
    d = decide({"users": 100, "ndcg@10": 0.099}, serving)
    assert not d.promote and d.reason.startswith("worse") and d.delta == pytest.approx(-0.001)
    # the same 0.001 drop within a tolerance of 0.002 (0.099 >= 0.100 - 0.002): promote
    assert decide({"users": 100, "ndcg@10": 0.099}, serving, tolerance=0.002).promote
    # another deciding metric: recall 0.2 < 0.3 refuses although ndcg is better
    assert not decide(
        {"users": 5, "ndcg@10": 0.2, "recall@10": 0.2},
        {"users": 5, "ndcg@10": 0.1, "recall@10": 0.3},
        metric="recall@10",
    ).promote


def test_decide_edge_cases() -> None:
    # first bundle ever: nothing to compare with -> promote
    assert decide({"users": 3, "ndcg@10": 0.0}, None).promote
    # a validation slice without warm users proves nothing -> refuse even with no serving bundle
    assert not decide({"users": 0, "ndcg@10": 0.0}, None).promote
    # the candidate lacks the metric -> refuse
    assert not decide({"users": 3}, {"users": 3, "ndcg@10": 0.1}).promote
    with pytest.raises(ValueError, match="tolerance"):
        decide({"ndcg@10": 0.1}, None, tolerance=-1.0)


def test_publish_moves_and_points_latest_atomically(tmp_path: Path) -> None:
    root = tmp_path / "bundles"
    (root / "v1").mkdir(parents=True)
    point_latest(root, root / "v1")
    assert (root / LATEST).resolve() == (root / "v1").resolve()
    staged = root / ".candidates" / "v2"
    staged.mkdir(parents=True)
    (staged / "manifest.json").write_text("{}")
    final = publish(staged, root)
    assert final == root / "v2" and not staged.exists() and (final / "manifest.json").is_file()
    assert (root / LATEST).resolve() == final.resolve()
    # a candidate from elsewhere is copied, not moved
    other = tmp_path / "elsewhere" / "v3"
    other.mkdir(parents=True)
    publish(other, root, move=False)
    assert other.is_dir() and (root / LATEST).resolve() == (root / "v3").resolve()
    with pytest.raises(FileExistsError):
        publish(other, root, move=False)
    assert not list(root.glob(".*.tmp")) and not list(root.glob(".*.copy"))


# ---- the merge ----------------------------------------------------------------------------------


def _events(rows: list[tuple[str, str, str, str, str]]) -> pd.DataFrame:
    """rows of (event_id, user, item, day, split)."""
    return pd.DataFrame(
        {
            S.EVENT_ID: [r[0] for r in rows],
            S.USER_ID: [r[1] for r in rows],
            S.ITEM_ID: [r[2] for r in rows],
            S.EVENT_TYPE: "PURCHASE",
            S.QUANTITY: 1.0,
            S.PRICE: 2.0,
            S.TIMESTAMP: pd.to_datetime([r[3] for r in rows], utc=True),
            S.SESSION_ID: "s",
            S.SPLIT: [r[4] for r in rows],
        }
    )


def test_merge_keeps_train_adds_ingested_and_drops_redeliveries() -> None:
    prepared = _events(
        [
            ("e1", "u1", "a", "2011-01-01", "train"),
            ("e2", "u1", "b", "2011-01-03", "train"),
            ("e3", "u2", "c", "2011-02-01", "test"),
            ("e4", "u2", "d", "2011-02-02", "test"),
        ]
    )
    # ingestion replayed e3 (a copy of a test event) twice (a redelivered batch) and a new e5
    ingested = _events(
        [
            ("e3", "u2", "c", "2011-02-01", "train"),
            ("e3", "u2", "c", "2011-02-01", "train"),
            ("e5", "u3", "a", "2011-01-02", "train"),
        ]
    )
    merged, dropped = merge_events(prepared, ingested)
    # e4 (test, never ingested) is the future: left out; e3 once; sorted by time: e1, e5, e2, e3
    assert merged[S.EVENT_ID].tolist() == ["e1", "e5", "e2", "e3"]
    assert dropped == 1 and set(merged[S.SPLIT]) == {"train"}
    merged_alone, dropped_alone = merge_events(prepared, None)
    assert merged_alone[S.EVENT_ID].tolist() == ["e1", "e2"] and dropped_alone == 0


def test_merge_items_adds_announced_items_and_keeps_first_seen() -> None:
    t = pd.to_datetime(["2011-01-01", "2011-01-05"], utc=True)
    items = pd.DataFrame(
        {S.ITEM_ID: ["a", "b"], S.ITEM_TEXT: ["A", "B"], S.PRICE: [1.0, 2.0], S.FIRST_SEEN: t}
    )
    ups = pd.DataFrame(
        {
            S.ITEM_ID: ["b", "z"],
            S.ITEM_TEXT: ["B v2", "Z"],
            S.PRICE: [2.5, 9.0],
            S.FIRST_SEEN: pd.to_datetime(["2011-03-01", "2011-03-02"], utc=True),
        }
    )
    merged, new = merge_items(items, ups)
    by_id = merged.set_index(S.ITEM_ID)
    assert new == 1 and sorted(by_id.index) == ["a", "b", "z"]
    assert by_id.loc["b", S.ITEM_TEXT] == "B v2" and by_id.loc["b", S.FIRST_SEEN] == t[1]  # first seen kept
    assert by_id.loc["z", S.FIRST_SEEN] == pd.Timestamp("2011-03-02", tz="UTC")


# ---- end to end on the tiny bundle ----------------------------------------------------------------


def _degrade(src: Path, dst: Path) -> Path:
    """A copy of ``src`` whose item embeddings are shuffled across items (a consistent, verified
    bundle that retrieves nonsense), under a new version name."""
    shutil.copytree(src, dst)
    emb = np.load(dst / bf.ITEM_EMBEDDINGS)
    np.save(dst / bf.ITEM_EMBEDDINGS, emb[np.random.default_rng(0).permutation(len(emb))])
    manifest = json.loads((dst / bf.MANIFEST).read_text())
    manifest["version"] = dst.name
    manifest["files"][bf.ITEM_EMBEDDINGS] = bf.sha256_file(dst / bf.ITEM_EMBEDDINGS)
    (dst / bf.MANIFEST).write_text(json.dumps(manifest, indent=2))
    return dst


@pytest.fixture()
def bundles(tiny_bundle: Path, tmp_path: Path) -> dict[str, Path]:
    good = shutil.copytree(tiny_bundle, tmp_path / "src" / "good-1")
    worse = _degrade(tiny_bundle, tmp_path / "src" / "worse-1")
    return {"good": good, "worse": worse, "data": tiny_bundle.parent.parent / "data"}


def _root_serving(root: Path, bundle: Path) -> Path:
    root.mkdir(parents=True)
    served = shutil.copytree(bundle, root / bundle.name)
    point_latest(root, served)
    return served


@pytest.mark.parametrize("judge", ["retrieval", "served"])
def test_worse_candidate_is_refused_and_latest_stays(bundles, tmp_path: Path, judge: str) -> None:
    from fulcrum.cli import app

    root = tmp_path / "bundles"
    served = _root_serving(root, bundles["good"])
    result = CliRunner().invoke(
        app,
        [
            "retrain",
            "--data",
            str(bundles["data"]),
            "--out",
            str(root),
            "--candidate",
            str(bundles["worse"]),
            "--judge",
            judge,
            "--no-progress",
        ],
    )
    assert result.exit_code == 3, result.output
    assert "REFUSED" in result.output and "worse: ndcg@10" in result.output
    assert (root / LATEST).resolve() == served.resolve()
    assert not (root / "worse-1").exists()


def test_better_candidate_is_promoted_and_the_server_reloads_it(bundles, tmp_path: Path) -> None:
    """A real server serves the worse bundle; retrain judges the good one better, promotes it
    and calls ReloadModel; GetModelInfo then reports the new version."""
    from fulcrum.cli import app
    from fulcrum.v1 import recommender_pb2 as pb
    from online.server.feature_source import InMemoryFeatures
    from tests.serving_helpers import serving

    root = tmp_path / "bundles"
    served = _root_serving(root, bundles["worse"])

    async def body() -> None:
        async with serving(served, InMemoryFeatures(), bundles_root=str(root)) as (stub, _srv, port, _ch):
            before = await stub.GetModelInfo(pb.GetModelInfoRequest())
            assert before.bundle_version == "worse-1"
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(
                None,
                lambda: CliRunner().invoke(
                    app,
                    [
                        "retrain",
                        "--data",
                        str(bundles["data"]),
                        "--out",
                        str(root),
                        "--candidate",
                        str(bundles["good"]),
                        "--server",
                        f"127.0.0.1:{port}",
                        "--no-progress",
                    ],
                ),
            )
            assert result.exit_code == 0, result.output
            assert "PROMOTED" in result.output and "reloaded 127.0.0.1" in result.output
            after = await stub.GetModelInfo(pb.GetModelInfoRequest())
            good_version = json.loads((bundles["good"] / bf.MANIFEST).read_text())["version"]
            assert after.bundle_version == good_version != before.bundle_version

    asyncio.run(body())
    assert (root / LATEST).resolve() == (root / "good-1").resolve()
    assert (bundles["good"] / bf.MANIFEST).is_file()  # an outside candidate is copied, not moved


def test_retrain_trains_on_prepared_plus_ingested_events(
    bundles, tiny_bert_dir: Path, tmp_path: Path
) -> None:
    """The full job with the tiny config: ingested events (written by the real OfflineAppendSink)
    are merged, a candidate is trained and exported, compared and promoted. The decision is fixed
    by construction: with --tolerance 1.0 any NDCG (in [0, 1]) passes, so the job must promote
    (exit 0); the refusal path (exit 3) is tested above with a candidate known to be worse."""
    import yaml

    from fulcrum.cli import app
    from fulcrum.core.events import Event
    from fulcrum.core.schema import EventType
    from offline.export.tiny import TINY_CONFIG
    from online.ingest.offline_sink import OfflineAppendSink

    events = pd.read_parquet(bundles["data"] / S.EVENTS_FILE)
    test = events[events[S.SPLIT] == "test"].head(40)
    sink = OfflineAppendSink(tmp_path / "offline")
    sink.apply(
        [
            Event(
                r[S.EVENT_ID],
                EventType(r[S.EVENT_TYPE]),
                str(r[S.USER_ID]),
                str(r[S.ITEM_ID]),
                float(r[S.QUANTITY]),
                float(r[S.PRICE]),
                int(r[S.TIMESTAMP].value // 1_000_000),
                str(r[S.SESSION_ID]),
            )
            for _, r in test.iterrows()
        ]
    )
    cfg = {
        **TINY_CONFIG,
        "ranker": "off",
        "text": {**TINY_CONFIG["text"], "model_path": str(tiny_bert_dir)},
    }
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    root = tmp_path / "bundles"
    served = _root_serving(root, bundles["good"])
    result = CliRunner().invoke(
        app,
        [
            "retrain",
            "--data",
            str(bundles["data"]),
            "--out",
            str(root),
            "--offline-dir",
            str(tmp_path / "offline"),
            "--config",
            str(tmp_path / "tiny.yaml"),
            "--work",
            str(tmp_path / "work"),
            "--tolerance",
            "1.0",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    train_n = int((events[S.SPLIT] == "train").sum())
    assert f"{train_n + 40:,} events ({train_n:,} prepared + 40 ingested from 1 file(s)" in result.output
    merged = pd.read_parquet(tmp_path / "work" / "data" / S.EVENTS_FILE)
    assert len(merged) == train_n + 40 and set(test[S.EVENT_ID]) <= set(merged[S.EVENT_ID])
    assert "PROMOTED" in result.output and "REFUSED" not in result.output
    promoted = (root / LATEST).resolve()
    assert promoted != served.resolve() and (promoted / bf.MANIFEST).is_file()
