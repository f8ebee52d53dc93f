"""Cold Recommend's candidates without a catalogue pass (online/inference/cold_candidates.py).

Without session items the candidates must be exactly those of the old full scan (every row
scored, ``top_candidates``); with session items above the ANN threshold they come from a pool
and are measured by recall against the full scan; below it they are the full scan's.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from fulcrum.core.bundle.catalogue import Catalogue
from fulcrum.core.bundle.retrieval import top_candidates
from fulcrum.core.hybrid import HybridWeights
from fulcrum.core.rerank.cold_start import cold_start_scores
from fulcrum.core.rerank.reasons import Reason
from online.config import ServeConfig
from online.inference.cold_candidates import cold_candidates, popular_now_unblocked, session_centre
from online.server.recommend import COLD_CONTEXT_WEIGHT, _cold_exploit
from online.server.requests import Knobs, Scored

N, D = 3000, 16


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _catalogue(n: int = N, seed: int = 0, trend: bool = True) -> Catalogue:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, D))
    emb = _unit(centres[rng.integers(0, 40, n)] + 0.6 * rng.standard_normal((n, D)))
    # few distinct purchase counts and trend values: many ties, broken by popularity then row
    items = pd.DataFrame({"item_id": [f"i{j}" for j in range(n)], "text": ["x"] * n,
                          "purchases": rng.integers(0, 5, n)})
    t = rng.integers(0, 4, n).astype(np.float32) if trend else None
    return Catalogue.from_frame(items, emb, None, t, HybridWeights(0.0, 0.0), 0.0)


def _with_ann(cat: Catalogue, min_items: int) -> Catalogue:
    pytest.importorskip("faiss")
    from fulcrum.core import ann_index
    from fulcrum.core.bundle.ann import AnnSettings, LockedIndex, ann_parts

    index = LockedIndex(ann_index.build_hnsw(cat.embeddings, threads=1))
    return dataclasses.replace(cat, ann=ann_parts(cat, index, None, AnnSettings(min_items=min_items)))


def _full_scan(cat: Catalogue, session_rows: np.ndarray, n: int, blocked: np.ndarray):
    """The code this replaced: every row scored, then the top n non-blocked."""
    context = None
    if len(session_rows):
        context = cat.embeddings @ session_centre(cat, session_rows)
    scores = cold_start_scores(cat.popular_now_pct, context, COLD_CONTEXT_WEIGHT)
    cand = top_candidates(scores, n, blocked)
    return cand, scores[cand]


def test_hand_worked_prefix_skips_blocked_rows() -> None:
    # trend 3,1,3,0,2 (ties by all-time purchases 1 > 0): popular now = rows 0, 2, 4, 1, 3
    items = pd.DataFrame({"item_id": list("abcde"), "text": ["x"] * 5, "purchases": [1, 0, 0, 0, 0]})
    emb = _unit(np.eye(5, D))
    cat = Catalogue.from_frame(items, emb, None, np.array([3, 1, 3, 0, 2], np.float32),
                               HybridWeights(0.0, 0.0), 0.0)
    assert cat.popular_now_order.tolist() == [0, 2, 4, 1, 3]
    blocked = np.array([False, False, True, False, False])  # row 2 out
    rows, scores = cold_candidates(cat, np.zeros(0, np.int64), 3, blocked, COLD_CONTEXT_WEIGHT)
    assert rows.tolist() == [0, 4, 1]
    # pct = 1 - rank/5: row 0 rank 0, row 4 rank 2, row 1 rank 3
    np.testing.assert_array_equal(scores, [1.0, 0.6, 0.4])
    # more than there are: every unblocked row, in order
    assert popular_now_unblocked(cat, 10, blocked).tolist() == [0, 4, 1, 3]
    assert popular_now_unblocked(cat, 0, blocked).tolist() == []


@pytest.mark.parametrize("trend", [True, False])
def test_no_session_candidates_are_the_full_scans_on_random_blocked_masks(trend: bool) -> None:
    cat = _catalogue(trend=trend)
    rng = np.random.default_rng(3)
    none = np.zeros(0, np.int64)
    for share in (0.0, 0.01, 0.3, 0.9, 0.999, 1.0):
        for n in (1, 10, 200, N + 7):
            blocked = rng.random(N) < share
            rows, scores = cold_candidates(cat, none, n, blocked, COLD_CONTEXT_WEIGHT)
            want_rows, want_scores = _full_scan(cat, none, n, blocked)
            np.testing.assert_array_equal(rows, want_rows)
            np.testing.assert_array_equal(scores, want_scores)
            assert len(rows) == min(n, int((~blocked).sum()))


def test_no_session_reply_is_identical_to_the_old_cold_path() -> None:
    """ids, order, scores and reasons of ``_cold_exploit`` vs the old code (full scan, then MMR)."""
    from fulcrum.core.rerank.diversity import mmr, mmr_pool

    cat = _catalogue(seed=5)
    config = ServeConfig()
    rng = np.random.default_rng(9)
    none = np.zeros(0, np.int64)
    for trial in range(20):
        blocked = rng.random(N) < rng.choice([0.0, 0.05, 0.5, 0.95])
        k = int(rng.integers(1, 40))
        knobs = Knobs(0.0, float(rng.choice([0.0, 0.3, 1.0])), False, trial)
        rows, scored, cand = _cold_exploit(cat, none, blocked, k, knobs, config)
        scores = cold_start_scores(cat.popular_now_pct, None, COLD_CONTEXT_WEIGHT)
        old_cand = top_candidates(scores, max(config.retrieval_candidates, k), blocked)
        pool = mmr_pool(scores[old_cand], k)
        order = pool[mmr(scores[old_cand][pool], cat.embeddings[old_cand[pool]], k, knobs.diversity)]
        old_rows = [int(old_cand[i]) for i in order]
        assert rows == old_rows
        np.testing.assert_array_equal(cand, old_cand)
        assert [scored[r] for r in rows] == [
            Scored(str(cat.item_ids[r]), float(scores[r]), Reason.COLD_START) for r in old_rows
        ]


def _sessions(cat: Catalogue, count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.unique(rng.integers(0, len(cat), int(rng.integers(1, 4)))) for _ in range(count)]


def test_below_the_ann_threshold_the_session_path_is_the_full_scan() -> None:
    cat = _with_ann(_catalogue(), min_items=N + 1)
    assert not cat.ann_active
    for session in _sessions(cat, 20, 4):
        blocked = cat.mask_of_rows(session)
        rows, scores = cold_candidates(cat, session, 200, blocked, COLD_CONTEXT_WEIGHT)
        want_rows, want_scores = _full_scan(cat, session, 200, blocked)
        np.testing.assert_array_equal(rows, want_rows)
        np.testing.assert_array_equal(scores, want_scores)


def test_ann_pool_recall_against_the_full_scan() -> None:
    cat = _with_ann(_catalogue(), min_items=1)
    assert cat.ann_active
    recall_10, recall_200 = [], []
    for session in _sessions(cat, 200, 6):
        blocked = cat.mask_of_rows(session)
        rows, scores = cold_candidates(cat, session, 200, blocked, COLD_CONTEXT_WEIGHT)
        want_rows, want_scores = _full_scan(cat, session, 200, blocked)
        assert len(rows) == 200 and not blocked[rows].any()
        assert np.all(np.diff(scores) <= 0)  # best first
        # a row both return carries the full scan's score (float32 cosines: tiny rounding)
        common, a, b = np.intersect1d(rows, want_rows, return_indices=True)
        np.testing.assert_allclose(scores[a], want_scores[b], rtol=0, atol=1e-6)
        recall_200.append(len(common) / 200)
        recall_10.append(len(np.intersect1d(rows[:10], want_rows[:10])) / 10)
    # measured on this catalogue (3000 rows, pool 400 + 400 popular): 1.0 and 0.979
    assert float(np.mean(recall_10)) >= 0.97
    assert float(np.mean(recall_200)) >= 0.9


def test_ann_pool_falls_back_to_the_full_scan_when_most_rows_are_blocked() -> None:
    cat = _with_ann(_catalogue(), min_items=1)
    rng = np.random.default_rng(8)
    session = np.array([5, 17])
    blocked = rng.random(N) < 0.97
    blocked[session] = True
    rows, scores = cold_candidates(cat, session, 50, blocked, COLD_CONTEXT_WEIGHT)
    want_rows, want_scores = _full_scan(cat, session, 50, blocked)
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_array_equal(scores, want_scores)
