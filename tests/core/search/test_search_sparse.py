"""Search without [N] arrays per request: the lexical scores and word coverage at the matching /
candidate rows (fulcrum/core/search/sparse_scores.py), the blocked rows as ``BlockedRows`` and
the ANN pool's dense scores as ``SparseScores`` give exactly the old results -- rows, order and
scores -- of the code that built [N] vectors (kept below as the reference), on random
catalogues, queries, blocked sets, fusions and pools."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from fulcrum.core.blocked_rows import BlockedRows
from fulcrum.core.search.engine import SearchSettings, prepare_query, rank
from fulcrum.core.search.fusion import Fusion, personalise, top_rows
from fulcrum.core.search.lexical_index import LexicalIndex
from fulcrum.core.search.sparse_scores import SparseScores

WORDS = ("red heart cushion cover cotton mug set paper lantern glass holder wooden box garden "
         "bird feeder retro clock lunch bag spotty pink blue star tin sign").split()  # fmt: skip


def _old_fuse(lexical, dense, fusion, blocked=None, coverage=None, dense_pool=None):
    """fusion.fuse before this change: [N] lexical, dense and allowed vectors."""
    allowed = np.ones(len(dense), dtype=bool) if blocked is None else ~blocked
    lex_rows = top_rows(lexical, fusion.depth, allowed & (lexical > 0))
    if dense_pool is None:
        dense_rows = top_rows(dense, fusion.depth, allowed)
    else:
        rows = np.asarray(dense_pool, dtype=np.int64)
        rows = rows[allowed[rows]]
        dense_rows = rows[np.lexsort((rows, -dense[rows]))][: fusion.depth]
    cand = np.union1d(lex_rows, dense_rows).astype(np.int64)
    w = fusion.lexical_weight
    if fusion.method == "rrf":
        score = np.zeros(len(cand), dtype=np.float64)
        for rows, weight in ((lex_rows, w), (dense_rows, 1.0 - w)):
            if weight > 0 and len(rows):
                idx = np.searchsorted(cand, rows)
                score[idx] += weight / (fusion.rrf_k + np.arange(1, len(rows) + 1))
    else:
        top = float(lexical[lex_rows[0]]) if len(lex_rows) else 0.0
        lex = lexical[cand] / top if top > 0 else np.zeros(len(cand))
        score = w * lex + (1.0 - w) * dense[cand].astype(np.float64)
    if coverage is not None and fusion.coverage_weight > 0:
        covered = coverage(cand) if callable(coverage) else coverage[cand]
        score = score + fusion.coverage_weight * covered
    order = np.lexsort((cand, -score))
    return cand[order], score[order]


def _old_rank(index, prepared, dense, settings, blocked, affinity, dense_pool):
    """engine.rank before this change (index.scores and index.coverage over every row)."""
    n = len(dense)
    fusion = settings.fusion
    if prepared.unknown and settings.dense_only_for_unknown_words:
        fusion = replace(fusion, lexical_weight=0.0, coverage_weight=0.0)
    lexical = np.zeros(n)
    if fusion.lexical_weight > 0:
        lexical = index.scores(prepared.terms, n)
    coverage = None
    if fusion.coverage_weight > 0:
        coverage = index.coverage(prepared.groups, n, fusion.coverage_idf)
    rows, scores = _old_fuse(lexical, dense, fusion, blocked, coverage, dense_pool)
    if affinity is not None and settings.personalisation > 0 and len(rows):
        scores = personalise(scores, affinity[rows], settings.personalisation)
        order = np.lexsort((rows, -scores))
        rows, scores = rows[order], scores[order]
    return rows, scores


def _texts(rng: np.random.Generator, n: int) -> list[str]:
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 8)))) for _ in range(n)]


@pytest.mark.parametrize("method", ["weighted", "rrf"])
def test_rank_equals_the_full_vector_code(method: str) -> None:
    rng = np.random.default_rng(4)
    for trial in range(60):
        n = int(rng.integers(5, 400))
        index = LexicalIndex.build(_texts(rng, n))
        query = " ".join(rng.choice([*WORDS, "zzyzx", "hart"], size=int(rng.integers(1, 4))))
        prepared = prepare_query(index, query)
        dense = rng.uniform(-1, 1, n).astype(np.float32)
        fusion = Fusion(method, float(rng.choice([0.0, 0.3, 1.0])), 60.0, int(rng.integers(1, 50)),
                        float(rng.choice([0.0, 0.2])), bool(rng.random() < 0.5))  # fmt: skip
        settings = SearchSettings(fusion, float(rng.choice([0.0, 0.05])), bool(rng.random() < 0.5))
        mask = rng.random(n) < float(rng.choice([0.0, 0.1, 0.7]))
        affinity = rng.uniform(-1, 1, n)
        pool = None
        if trial % 2:  # an ANN pool: exact values on the pool, a floor elsewhere
            pool = np.unique(rng.integers(0, n, max(1, n // 3)))
            floor = np.nextafter(dense[pool].min(), np.float32(-np.inf))
            full = np.full(n, floor, dtype=np.float32)
            full[pool] = dense[pool]
            dense_in: np.ndarray | SparseScores = SparseScores(pool, dense[pool], n, floor)
            dense = full
        else:
            dense_in = dense
        want = _old_rank(index, prepared, dense, settings, mask, affinity, pool)
        blocked = BlockedRows.of(n, np.flatnonzero(mask))
        got = rank(index, prepared, dense_in, settings, blocked, affinity.__getitem__, pool)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        # and with the mask itself (what offline evaluation passes)
        got = rank(index, prepared, dense, settings, mask, affinity, pool)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_sparse_lexical_scores_and_coverage_are_the_vectors_at_their_rows() -> None:
    rng = np.random.default_rng(8)
    for _ in range(40):
        n = int(rng.integers(1, 300))
        index = LexicalIndex.build(_texts(rng, n))
        prepared = prepare_query(index, " ".join(rng.choice(WORDS, size=int(rng.integers(1, 5)))))
        full = index.scores(prepared.terms, n)
        sparse = index.sparse_scores(prepared.terms, n)
        np.testing.assert_array_equal(sparse.dense(), full)
        np.testing.assert_array_equal(sparse.rows, np.flatnonzero(full))
        rows = rng.integers(0, n, 50)
        np.testing.assert_array_equal(sparse[rows], full[rows])
        for idf in (False, True):
            want = index.coverage(prepared.groups, n, idf)[rows]
            np.testing.assert_array_equal(index.coverage_at(prepared.groups, rows, idf, n), want)


def test_sparse_scores_read_like_their_array() -> None:
    s = SparseScores(np.array([1, 4]), np.array([0.5, 2.0], dtype=np.float32), 6, np.float32(-1.0))
    assert len(s) == 6
    assert s[np.array([0, 1, 4, 5, 1])].tolist() == [-1.0, 0.5, 2.0, -1.0, 0.5]
    assert s[np.array([0, 1])].dtype == np.float32
    assert s.dense().tolist() == [-1.0, 0.5, -1.0, -1.0, 2.0, -1.0]
    assert SparseScores.empty(3)[np.array([2])].tolist() == [0.0]
