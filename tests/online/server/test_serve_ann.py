"""The ANN path end to end: a bundle exported with its ANN indexes (sha256-listed), served by
`fulcrum serve` with ``ann_min_items: 1`` (so the tiny catalogue retrieves through the index),
answering Recommend and Search over real gRPC, and an ITEM_UPSERT that makes a new item
findable through the grown index."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytest.importorskip("faiss")

from fulcrum.client.recommender import FulcrumClient  # noqa: E402
from fulcrum.core import ann_index  # noqa: E402
from fulcrum.core import bundle_format as bf  # noqa: E402
from fulcrum.v1 import recommender_pb2 as pb  # noqa: E402
from tests.serve_process import fulcrum_serve  # noqa: E402


@pytest.fixture(scope="module")
def ann_bundle(tiny_bundle: Path, tmp_path_factory) -> Path:
    from offline.export.bundle import export_bundle

    run = tiny_bundle.parent.parent / "run"
    return export_bundle(run, tmp_path_factory.mktemp("ann") / "bundles", ann_min_items=1)


def _event(event_id: str, kind, item: str, user: str = "", text: str = "") -> pb.Event:
    return pb.Event(
        event_id=event_id, type=kind, user_id=user, item_id=item, quantity=1, price=2.0,
        timestamp_ms=int(time.time() * 1000), item_text=text,
    )


def test_recommend_and_search_through_the_ann_index(ann_bundle: Path, tmp_path: Path) -> None:
    manifest = json.loads((ann_bundle / bf.MANIFEST).read_text())
    assert manifest["ann"]["built"] and ann_index.RECOMMEND_FILE in manifest["files"]
    assert (manifest["ann"].get("search") is None) == (ann_index.SEARCH_FILE not in manifest["files"])
    import pandas as pd

    items = pd.read_parquet(ann_bundle / bf.ITEMS)
    ids = items["item_id"].astype(str).tolist()
    with fulcrum_serve(ann_bundle, tmp_path, extra_config="ann_min_items: 1\n") as port:
        assert "retrieval ANN" in (tmp_path / "serve.log").read_text()
        with FulcrumClient(f"127.0.0.1:{port}") as client:
            bought = ids[:3]
            summary = client.ingest_events(
                [_event(f"p{j}", pb.PURCHASE, item, user="ann-user") for j, item in enumerate(bought)],
                timeout=30,
            )
            assert summary.accepted == 3
            reply = client.recommend("ann-user", 5, timeout=30)
            got = [s.item_id for s in reply.items]
            assert len(got) == 5 and not reply.degraded
            assert not set(got) & set(bought)  # bought items stay blocked on the ANN path
            hits = client.search(str(items["text"].iloc[7]), 5, timeout=30)
            assert ids[7] in [s.item_id for s in hits.items]
            # a new item, announced while serving: added to the index, found by its own text
            text = "zebra quartz lantern velvet"
            client.ingest_events([_event("u1", pb.ITEM_UPSERT, "ann-new-1", text=text)], timeout=60)
            deadline = time.monotonic() + 60
            while client.get_model_info(timeout=10).catalogue_size < len(ids) + 1:
                assert time.monotonic() < deadline, "the upserted item never joined the catalogue"
                time.sleep(0.05)
            found = client.search(text, 3, timeout=30)
            assert "ann-new-1" in [s.item_id for s in found.items]
