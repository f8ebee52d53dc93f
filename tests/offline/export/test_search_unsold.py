"""A catalogue item that never sold, kept by `fulcrum data prepare --keep-unsold-items`, is
trained (text-only vector), exported (vectors + lexical index), returned by Search of a real
gRPC server and offered by Recommend in an exploration slot as NEW_ITEM -- the whole path a new
arrival takes."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from fulcrum.cli import app
from fulcrum.core import schema as S
from fulcrum.v1 import recommender_pb2 as pb
from offline.export.synthetic_data import make_synthetic
from online.server.feature_source import InMemoryFeatures
from tests.serving_helpers import serving

NEW_ID, NEW_TEXT = "NEW-1", "wooden lantern bird house sign"


@pytest.mark.slow
def test_a_never_sold_item_from_the_items_file_is_returned_by_search(tmp_path, tiny_bert_dir):
    from offline.export.bundle import export_bundle
    from offline.export.tiny import TINY_CONFIG
    from offline.model.train_run import train_run
    from offline.train_config import config_from_dict

    events, items, _ = make_synthetic(seed=0)
    events[S.QUANTITY] = events[S.QUANTITY].abs()
    events.drop(columns=[S.SPLIT]).to_csv(tmp_path / "events.csv", index=False)
    catalogue = items[[S.ITEM_ID, S.ITEM_TEXT, S.PRICE]].copy()
    catalogue.loc[len(catalogue)] = [NEW_ID, NEW_TEXT, 4.5]
    catalogue.to_csv(tmp_path / "items.csv", index=False)
    assert NEW_ID not in set(events[S.ITEM_ID])

    cutoff = (
        events[S.TIMESTAMP].max() - (events[S.TIMESTAMP].max() - events[S.TIMESTAMP].min()) / 5
    ).isoformat()
    data = tmp_path / "data"
    result = CliRunner().invoke(app, [
        "data", "prepare", "--events", str(tmp_path / "events.csv"), "--items", str(tmp_path / "items.csv"),
        "--cutoff", cutoff, "--out", str(data), "--keep-unsold-items",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output

    cfg = {**TINY_CONFIG, "seed": 0, "ranker": "off"}
    cfg["text"] = {**TINY_CONFIG["text"], "model_path": str(tiny_bert_dir)}
    run = train_run(data, config_from_dict(cfg), tmp_path / "run", progress=False)
    bundle = export_bundle(run.run_dir, tmp_path / "bundles")

    async def body():
        async with serving(bundle, InMemoryFeatures()) as (stub, *_):
            exact = await stub.Search(pb.SearchRequest(query=NEW_TEXT, k=5))
            words = await stub.Search(pb.SearchRequest(query="wooden lanterns", k=10))
            priced_out = await stub.Search(
                pb.SearchRequest(query=NEW_TEXT, k=40, filters=pb.SearchFilters(max_price=4.0))
            )
            rec = await stub.Recommend(
                pb.RecommendRequest(
                    user_id="someone-new", k=60, options=pb.RecommendOptions(exploration_share=1.0, seed=1)
                )
            )
            return exact, words, priced_out, rec

    exact, words, priced_out, rec = asyncio.run(body())
    # Recommend offers it in an exploration slot as a new item
    reasons = {i.item_id: i.reason for i in rec.items}
    assert reasons.get(NEW_ID) == pb.Reason.NEW_ITEM, reasons
    assert exact.items[0].item_id == NEW_ID
    assert NEW_ID in [i.item_id for i in words.items]
    # its catalogue price (4.5) came along: a max_price of 4 filters it out
    assert NEW_ID not in [i.item_id for i in priced_out.items]
