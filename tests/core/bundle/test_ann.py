"""Retrieval through the ANN index (fulcrum/core/ann_index.py, fulcrum/core/bundle/ann.py,
fulcrum/core/bundle/ann_retrieval.py): recall@100 vs exact, the same scores on the pool, upserts
that grow the index without a rebuild, and the export/load round trip.

The catalogue is random but clustered like real item vectors (unit vectors around 60 centres),
with a fixed seed, so the recall figures are deterministic.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("faiss")

from fulcrum.core import ann_index  # noqa: E402
from fulcrum.core import bundle_format as bf  # noqa: E402
from fulcrum.core.bundle.ann import AnnSettings, LockedIndex, Moments, ann_parts, load_ann  # noqa: E402
from fulcrum.core.bundle.catalogue import Catalogue  # noqa: E402
from fulcrum.core.bundle.live_catalogue import LiveCatalogue
from fulcrum.core.hybrid import HybridWeights, NeighbourTable  # noqa: E402

N, D = 6000, 32


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    centres = rng.standard_normal((60, D))
    return _unit(centres[rng.integers(0, 60, n)] + 0.6 * rng.standard_normal((n, D)))


def _neighbours(rng: np.random.Generator, n: int, per: int = 20) -> NeighbourTable:
    indices = rng.integers(0, n, n * per)
    return NeighbourTable(
        np.arange(0, n * per + 1, per, dtype=np.int64), indices.astype(np.int64),
        rng.uniform(0.05, 1.0, n * per).astype(np.float32),
    )


def _catalogue(seed: int = 0, hybrid: bool = True, min_items: int = 1) -> Catalogue:
    rng = np.random.default_rng(seed)
    emb = _vectors(rng, N)
    items = pd.DataFrame({"item_id": [f"i{j}" for j in range(N)], "text": ["x"] * N,
                          "purchases": rng.integers(0, 50, N)})
    trend = rng.standard_normal(N).astype(np.float32)
    cat = Catalogue.from_frame(
        items, emb, _neighbours(rng, N) if hybrid else None, trend if hybrid else None,
        HybridWeights(0.15, 0.75) if hybrid else HybridWeights(), float(trend.min()),
    )
    index = LockedIndex(ann_index.build_hnsw(emb, threads=1))
    return dataclasses.replace(cat, ann=ann_parts(cat, index, None, AnnSettings(min_items=min_items)))


def _users(cat: Catalogue, n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = cat.embeddings[rng.integers(0, len(cat), (n, 3))].sum(axis=1)
    return _unit(picks + 0.3 * rng.standard_normal(picks.shape))


def _exact(cat: Catalogue) -> Catalogue:
    return dataclasses.replace(cat, ann=None)


def test_cosine_recall_at_100_vs_exact_is_at_least_0_95() -> None:
    cat = _catalogue(hybrid=False)
    users = _users(cat, 100)
    approx = np.stack([cat.retrieve(u, 100, None, np.zeros(0, np.int64))[0] for u in users])
    exact = np.stack([_exact(cat).retrieve(u, 100, None, np.zeros(0, np.int64))[0] for u in users])
    assert cat.ann_active and not _exact(cat).ann_active
    assert ann_index.recall_at(approx, exact) >= 0.95


def test_hybrid_pool_scores_are_the_exact_scores_and_recall_holds() -> None:
    cat = _catalogue(hybrid=True)
    rng = np.random.default_rng(2)
    recalls = []
    for u in _users(cat, 60):
        bought = np.unique(rng.integers(0, N, 8))
        rows, cos, score = cat.retrieve(u, 100, None, bought)
        e_rows, e_cos, e_score = _exact(cat).retrieve(u, 100, None, bought)
        # a row both paths return has the same cosine and the same hybrid score (catalogue-wide z)
        common, a, b = np.intersect1d(rows, e_rows, return_indices=True)
        assert len(common) > 0
        np.testing.assert_allclose(cos[a], e_cos[b], rtol=0, atol=1e-6)
        np.testing.assert_allclose(score[a], e_score[b], rtol=0, atol=1e-6)
        assert np.all(np.diff(score) <= 1e-12)  # best first
        recalls.append(len(common) / 100)
    assert float(np.mean(recalls)) >= 0.95
    # a user whose bought items have no co-purchase neighbour (or who bought nothing known)
    u = _users(cat, 1)[0]
    for bought in (np.zeros(0, np.int64), np.array([N + 5])):
        rows, _, score = cat.retrieve(u, 100, None, bought)
        e_rows, _, e_score = _exact(cat).retrieve(u, 100, None, bought)
        common, a, b = np.intersect1d(rows, e_rows, return_indices=True)
        assert len(common) >= 95
        np.testing.assert_allclose(score[a], e_score[b], rtol=0, atol=1e-6)


def test_blocked_rows_never_come_back_and_the_search_deepens() -> None:
    cat = _catalogue(hybrid=False)
    u = _users(cat, 1)[0]
    nearest = _exact(cat).retrieve(u, 600, None, np.zeros(0, np.int64))[0]
    blocked = np.zeros(N, dtype=bool)
    blocked[nearest[:500]] = True  # the 500 nearest rows: more than the default pool of 400
    rows, _, _ = cat.retrieve(u, 50, blocked, np.zeros(0, np.int64))
    assert len(rows) == 50 and not blocked[rows].any()
    want = _exact(cat).retrieve(u, 50, blocked, np.zeros(0, np.int64))[0]
    assert len(np.intersect1d(rows, want)) >= 45


def test_moments_give_the_catalogue_wide_mean_and_std() -> None:
    rng = np.random.default_rng(4)
    x = _vectors(rng, 3000)
    u = _unit(rng.standard_normal((1, D)))[0]
    m = Moments.of(x)
    mean, sd = m.cosine_stats(u)
    c = (x @ u).astype(np.float64)
    assert mean == pytest.approx(c.mean(), abs=1e-9) and sd == pytest.approx(c.std(), abs=1e-9)
    # rows 0..9 replaced, 5 rows added: the same as recomputing
    new = np.concatenate([_vectors(rng, 10), x[10:], _vectors(rng, 5)])
    moved = m.changed(np.concatenate([new[:10], new[-5:]]), x[:10])
    full = Moments.of(new)
    assert moved.n == full.n
    np.testing.assert_allclose(moved.total, full.total, atol=1e-9)
    np.testing.assert_allclose(moved.outer, full.outer, atol=1e-8)


def test_sparse_neighbour_scores_are_the_dense_ones() -> None:
    rng = np.random.default_rng(5)
    table = _neighbours(rng, 500, per=7)
    sources = np.array([3, 3, 17, 250, 499])
    rows, sums = table.sparse_scores(sources, 480)  # some targets past the catalogue: dropped
    dense = table.scores(sources, 480)
    assert np.array_equal(rows, np.flatnonzero(dense))
    assert np.array_equal(sums, dense[rows])  # bit for bit


def test_upserts_grow_the_index_without_a_rebuild() -> None:
    cat = _catalogue(hybrid=False)
    index = cat.ann.recommend
    live = LiveCatalogue(cat)
    u = _users(cat, 1)[0]
    # 10 new items pointing at the user: the ANN path must find them at the top
    near = _unit(u[None, :] + 0.01 * np.random.default_rng(6).standard_normal((10, D)))
    ids = [f"new{j}" for j in range(10)]
    grown = live.upsert(ids, ["new"] * 10, near, [1.0] * 10, now=0.0)
    assert grown.ann.recommend is index and index.ntotal == N + 10  # the same index, appended
    top = grown.retrieve(u, 10, None, np.zeros(0, np.int64))[0]
    assert sorted(grown.item_ids[top].tolist()) == sorted(ids)
    # an upserted item's vector replaced: its row is stale (scored exactly on every request) and
    # the moments follow the catalogue
    away = _unit(-u[None, :])
    again = live.upsert(["new0"], ["moved"], away, [1.0], now=1.0)
    row = again.index["new0"]
    assert row in again.ann.stale.tolist() and index.ntotal == N + 10
    assert row not in again.retrieve(u, 10, None, np.zeros(0, np.int64))[0].tolist()
    far = again.retrieve(away[0], 1, None, np.zeros(0, np.int64))[0]
    assert far.tolist() == [row]
    full = Moments.of(again.embeddings)
    np.testing.assert_allclose(again.ann.moments.outer, full.outer, atol=1e-8)
    # the older snapshot does not see rows it does not have
    assert cat.retrieve(u, 10, None, np.zeros(0, np.int64))[0].max() < N


def test_below_the_threshold_retrieval_is_exact() -> None:
    cat = _catalogue(hybrid=False, min_items=N + 1)
    assert not cat.ann_active
    with pytest.raises(ValueError, match="ann_pool"):
        AnnSettings(pool=0)


def test_search_dense_pool_matches_the_exact_top_depth() -> None:
    cat = _catalogue(hybrid=False)
    q = _users(cat, 1, seed=9)[0]
    sparse, pool = cat.search_dense(q, 200, None)
    dense = sparse.dense()  # SparseScores: the pool's cosines, a floor elsewhere
    exact, everything = _exact(cat).search_dense(q, 200, None)
    assert everything is None and pool is not None and len(pool) >= 200
    assert np.all(dense[np.setdiff1d(np.arange(N), pool)] < dense[pool].min())
    top = np.argsort(-dense, kind="stable")[:200]
    want = np.argsort(-exact, kind="stable")[:200]
    assert len(np.intersect1d(top, want)) >= 190
    np.testing.assert_allclose(dense[top[:100]], exact[top[:100]], atol=1e-6)  # exact values
    outside = np.setdiff1d(np.arange(N), top)
    assert dense[outside].max() < dense[top].min() or len(outside) == 0


def test_export_writes_sha256_listed_indexes_that_load(tmp_path) -> None:
    from fulcrum.core.manifest import file_hashes
    from offline.export.ann import write_ann_indexes

    rng = np.random.default_rng(7)
    emb = _vectors(rng, 1200)
    np.save(tmp_path / bf.ITEM_EMBEDDINGS, emb)
    np.save(tmp_path / bf.ITEM_TEXT_EMBEDDINGS, _vectors(rng, 1200))  # Search's own vectors
    assert write_ann_indexes(tmp_path, min_items=5000) == {"built": False, "items": 1200, "min_items": 5000}
    block = write_ann_indexes(tmp_path, min_items=1000, threads=1)
    assert block["built"] and block["recommend"]["file"] == ann_index.RECOMMEND_FILE
    assert block["search"]["vectors"] == bf.ITEM_TEXT_EMBEDDINGS
    files = file_hashes(tmp_path)
    assert ann_index.RECOMMEND_FILE in files and ann_index.SEARCH_FILE in files
    items = pd.DataFrame({"item_id": [f"i{j}" for j in range(1200)]})
    cat = Catalogue.from_frame(items, emb, text_embeddings=np.load(tmp_path / bf.ITEM_TEXT_EMBEDDINGS))
    parts = load_ann(tmp_path, {"ann": block}, list(files), cat, AnnSettings(min_items=1))
    assert parts is not None and parts.search is not None and parts.recommend.ntotal == 1200
    # an index of another catalogue is refused, naming the file
    small = Catalogue.from_frame(items[:1100], emb[:1100], text_embeddings=emb[:1100])
    with pytest.raises(ValueError, match=ann_index.RECOMMEND_FILE):
        load_ann(tmp_path, {"ann": block}, list(files), small, AnnSettings())
    json.dumps(block)  # the manifest block is plain JSON


def test_fuse_takes_the_dense_list_from_the_pool() -> None:
    from fulcrum.core.search.fusion import Fusion, fuse

    # dense scores: row 4 best (0.9), then row 1 (0.8), row 3 (0.2); no lexical match. With
    # depth 2 a pool holding rows 0, 1, 4 gives the same list as all rows: [4, 1]
    dense = np.array([0.1, 0.8, 0.0, 0.2, 0.9])
    lexical = np.zeros(5)
    f = Fusion("weighted", 0.0, depth=2)
    assert fuse(lexical, dense, f)[0].tolist() == [4, 1]
    assert fuse(lexical, dense, f, dense_pool=np.array([0, 1, 4]))[0].tolist() == [4, 1]
    # row 4 blocked: all rows give [1, 3]; the pool only knows rows 0 and 1 -> [1, 0] (a pool
    # must be deep enough for the filters: Catalogue.search_dense deepens it for blocked rows)
    blocked = np.array([False, False, False, False, True])
    assert fuse(lexical, dense, f, blocked)[0].tolist() == [1, 3]
    assert fuse(lexical, dense, f, blocked, dense_pool=np.array([0, 1, 4]))[0].tolist() == [1, 0]


def test_the_exploration_pool_is_the_eligible_rows_without_a_catalogue_pass() -> None:
    from online.inference.exploration_pool import exploration_pool

    cat = _catalogue(hybrid=False)
    cat.purchases[:] = 0.0
    cat.impressions[:] = 100.0  # everything observed ...
    new = np.array([5, 17, 900, 4000])
    cat.impressions[new] = 0.0  # ... except four new items
    blocked = np.zeros(N, dtype=bool)
    blocked[17] = True
    rng = np.random.default_rng(0)
    # small: exactly new-and-not-blocked + leftovers, minus the exploitation list
    pool = exploration_pool(cat, blocked, np.array([900]), np.array([30, 31]), 20, rng, 128)
    assert pool.tolist() == [5, 30, 31, 4000]
    # an item observed since the snapshot listed it leaves the pool (counts only grow)
    cat.impressions[4000] = 50.0
    assert 4000 not in exploration_pool(cat, blocked, np.array([900]), np.array([30]), 20, rng, 128)
    # large (every item new): a sample of at most `size` eligible rows
    fresh = _catalogue(hybrid=False)
    fresh.impressions[:] = 0.0
    fresh.purchases[:] = 0.0
    blocked[:3000] = True
    big = exploration_pool(fresh, blocked, np.array([4500]), np.array([1, 2]), 20, rng, 128)
    assert 0 < len(big) <= 128 and len(np.unique(big)) == len(big)
    assert np.all((big >= 3000) | np.isin(big, [1, 2])) and 4500 not in big


def test_coverage_at_candidate_rows_is_the_full_coverage_there() -> None:
    from fulcrum.core.search.lexical_index import LexicalIndex

    texts = ["red heart candle", "blue heart", "red lantern", "glass jar", "red red wine", "heart of glass"]
    index = LexicalIndex.build(texts)
    # rows 1 and 3 replaced while serving (1 no longer says "heart"), row 6 added
    new_texts = ["blue box", "red glass jar", "heart lantern"]
    grown = index.with_docs([1, 3, 6], new_texts, [texts[1], texts[3], None], 7)
    groups = [grown.terms("red heart")[0][:1], grown.terms("red heart")[0][1:]]  # one group per word
    full = grown.coverage(groups, 7)
    rows = np.array([0, 1, 3, 5, 6])
    np.testing.assert_array_equal(grown.coverage_at(groups, rows), full[rows])
    # by hand: row 0 has both words (1.0), row 1 lost "heart" and has no "red" (0), row 3 now says
    # "red" (0.5), row 5 "heart" (0.5), row 6 "heart" (0.5)
    assert full[rows].tolist() == [1.0, 0.0, 0.5, 0.5, 0.5]
