"""The bundle's hybrid retrieval score on the serving side: loaded, verified, used by the
catalogue exactly as fulcrum/core/hybrid.py defines it (real tiny bundle from the real trainer)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fulcrum.core import hybrid as hy
from fulcrum.core.bundle.loader import load_bundle
from fulcrum.core.errors import BundleInvalid


@pytest.fixture(scope="module")
def loaded(tiny_bundle: Path):
    return load_bundle(tiny_bundle, execution_provider="cpu", intra_op_threads=1)


def test_tiny_bundle_carries_the_hybrid_block(tiny_bundle: Path, loaded) -> None:
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    block = manifest["hybrid"]
    assert block["chosen_on"] == "validation"
    assert {hy.NEIGHBOURS_FILE, hy.TREND_FILE} <= set(manifest["files"])
    # the grid the weights were chosen from is recorded, and the chosen point is its best
    grid = block["validation_grid"]
    best = max(grid, key=lambda p: p["ndcg@10"])
    chosen = (block["neighbour_weight"], block["trend_weight"])
    chosen_score = next(p["ndcg@10"] for p in grid if (p["neighbour_weight"], p["trend_weight"]) == chosen)
    assert best["ndcg@10"] == pytest.approx(chosen_score)
    assert loaded.catalogue.hybrid == hy.weights_from_manifest(manifest)


def test_catalogue_scores_are_the_core_hybrid_score(tiny_bundle: Path, loaded) -> None:
    cat = loaded.catalogue
    table = hy.NeighbourTable.load(tiny_bundle / hy.NEIGHBOURS_FILE)
    trend = np.load(tiny_bundle / hy.TREND_FILE)
    user = cat.embeddings[:3].mean(axis=0)
    bought = [str(cat.item_ids[0]), str(cat.item_ids[1]), "not-in-the-catalogue"]
    cosine, scores = cat.retrieval_scores(user, bought)
    assert np.allclose(cosine, cat.embeddings @ user)
    want = hy.hybrid_scores(cosine, table.scores([0, 1], len(cat)), trend, cat.hybrid)
    assert np.allclose(scores, want)


def test_upserted_items_get_no_neighbours_and_the_trend_of_no_buyer(tiny_bundle: Path, loaded) -> None:
    cat = loaded.catalogue
    block = json.loads((tiny_bundle / "manifest.json").read_text())["hybrid"]
    # the manifest carries the standardised trend of an item without recent buyers (< the mean 0)
    assert cat.trend_pad == pytest.approx(block["trend_zero"]) and cat.trend_pad < 0
    vec = cat.embeddings[0] / np.linalg.norm(cat.embeddings[0])
    search = None if cat.search_vectors is None else cat.search_vectors[:1]  # Search's own space
    grown = cat.with_items(
        ["brand-new"], ["a brand new thing"], vec[None, :], [1.0], now=0.0, search_vectors=search
    )
    assert grown.hybrid == cat.hybrid and grown.trend_all is not None
    assert grown.trend_all[-1] == pytest.approx(block["trend_zero"])
    # a new item is not lifted above bundle items that had no recent buyer either
    assert grown.trend_all[-1] <= grown.trend_all[:-1].min() + 1e-6
    cosine, scores = grown.retrieval_scores(vec, [str(cat.item_ids[0])])
    assert len(scores) == len(cat) + 1 and np.isfinite(scores).all()


def _rewrite_manifest(folder: Path, edit) -> None:
    path = folder / "manifest.json"
    m = json.loads(path.read_text())
    edit(m)
    path.write_text(json.dumps(m))


def test_a_hybrid_block_without_its_file_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bad)
    (bad / hy.NEIGHBOURS_FILE).unlink()

    def drop(m: dict) -> None:
        m["hybrid"]["neighbour_weight"] = 0.5
        del m["files"][hy.NEIGHBOURS_FILE]

    _rewrite_manifest(bad, drop)
    with pytest.raises(BundleInvalid, match="item_neighbours.npz is not listed"):
        load_bundle(bad, execution_provider="cpu", intra_op_threads=1)


def test_a_tampered_trend_file_is_refused(tiny_bundle: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bad)
    trend = np.load(bad / hy.TREND_FILE)
    np.save(bad / hy.TREND_FILE, trend[::-1].copy() + 1.0)
    with pytest.raises(BundleInvalid, match="item_trend.npy"):
        load_bundle(bad, execution_provider="cpu", intra_op_threads=1)


def test_a_bundle_without_a_hybrid_block_serves_the_cosine(tiny_bundle: Path, tmp_path: Path) -> None:
    plain = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, plain)
    _rewrite_manifest(plain, lambda m: m.pop("hybrid"))
    cat = load_bundle(plain, execution_provider="cpu", intra_op_threads=1).catalogue
    assert not cat.hybrid.active
    user = cat.embeddings[0]
    cosine, scores = cat.retrieval_scores(user, [str(cat.item_ids[1])])
    assert np.array_equal(cosine, scores)


def test_the_manifest_neighbour_source_reaches_serving(tiny_bundle: Path, loaded, tmp_path: Path) -> None:
    from fulcrum.core.profile import UserProfile
    from online.server.profile_rows import derive

    # the tiny shop is purchase-only: its bundle records (or, older, implies) purchases
    assert loaded.catalogue.hybrid.neighbour_source == "purchases"
    other = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, other)
    _rewrite_manifest(
        other, lambda m: m["hybrid"].update(neighbour_source="interactions", neighbour_weight=0.5)
    )
    cat = load_bundle(other, execution_provider="cpu", intra_op_threads=1).catalogue
    assert cat.hybrid.neighbour_source == "interactions"
    ids = [str(i) for i in cat.item_ids[:3]]
    viewer = UserProfile("v", recent_items=tuple(ids), recent_types=("VIEW", "CLICK", "DISLIKE"),
                         recent_times=(1.0, 2.0, 3.0))
    rows = derive(cat, viewer, 3)
    # bought nothing; viewed row 0, clicked row 1 (the dislike is no source): the term is theirs
    assert rows.sources.tolist() == [0, 1] and rows.bought.tolist() == []
    assert rows.prior is not None and rows.prior.neighbour is not None
    assert np.array_equal(rows.prior.neighbour, cat.user_prior(np.array([0, 1])).neighbour)
    bad = tmp_path / "bad"
    shutil.copytree(tiny_bundle, bad)
    _rewrite_manifest(bad, lambda m: m["hybrid"].update(neighbour_source="views"))
    with pytest.raises(BundleInvalid, match="hybrid.neighbour_source"):
        load_bundle(bad, execution_provider="cpu", intra_op_threads=1)


def test_popular_now_orders_by_trend_then_all_time_rank() -> None:
    import pandas as pd

    from fulcrum.core.bundle.catalogue import Catalogue

    items = pd.DataFrame({"item_id": ["a", "b", "c", "d"], "popularity_rank": [0, 1, 2, 3]})
    emb = np.eye(4, dtype=np.float32)
    # trend: c sells most now; a and d tie (d is less popular all-time, so it comes after a); b last
    cat = Catalogue.from_frame(items, emb, trend=np.array([0.5, -1.0, 2.0, 0.5]))
    assert cat.popular_now_order.tolist() == [2, 0, 3, 1]
    # pct: 1 for the first, then 3/4, 2/4, 1/4
    assert cat.popular_now_pct.tolist() == [0.75, 0.25, 1.0, 0.5]
    # without a trend prior it is the all-time order
    plain = Catalogue.from_frame(items, emb)
    assert plain.popular_now_order.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("judge", ["retrieval", "served"])
def test_the_promotion_judge_rebuilds_hybrid_parts_before_the_slice(
    tiny_bundle: Path, tmp_path: Path, judge: str
) -> None:
    """`fulcrum retrain` judges on the validation slice, which lies inside the bundle's training
    data: a bundle whose trend file holds the slice's own sales must gain nothing from it."""
    from fulcrum.core import bundle_format as bf
    from offline.pipeline.bundle_eval import evaluate_bundles

    data = tiny_bundle.parent.parent / "data"
    leaky = tmp_path / "leaky"
    shutil.copytree(tiny_bundle, leaky)
    # a different trend file (as if it held the slice's own sales), its hash updated so it loads
    trend = np.load(leaky / hy.TREND_FILE)
    np.save(leaky / hy.TREND_FILE, (np.arange(len(trend))[::-1] / len(trend)).astype(np.float32))
    new_hash = bf.sha256_file(leaky / hy.TREND_FILE)
    _rewrite_manifest(leaky, lambda m: m["files"].update({hy.TREND_FILE: new_hash}))
    res = evaluate_bundles({"own": tiny_bundle, "leaky": leaky}, data, k_list=(10,), judge=judge)
    own, bad = res["own"]["warm"], res["leaky"]["warm"]
    assert own["users"] > 0
    assert bad["ndcg@10"] == pytest.approx(own["ndcg@10"])
    assert bad["recall@10"] == pytest.approx(own["recall@10"])
