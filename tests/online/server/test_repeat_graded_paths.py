"""The GRADED repeat term (fulcrum/core/repeat_term.py) is the same number on every path: for one
profile folded from events, serving's derived rows (online/server/profile_rows.py) and Recommend's
retrieve, offline evaluation's call (offline/report/bundle_model.py: ``retrieval_scores`` with
``own_of``), training's validation and self-check (offline/model/hybrid_fit.py ``bought_scores``
with the slice profile, item ids as row strings), the retrain judge (offline/pipeline/
bundle_eval.py ``_hybrid_adjust``) and the ANN pool (fulcrum/core/bundle/ann_retrieval.py)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fulcrum.core import hybrid as hy
from fulcrum.core.bundle.loader import load_bundle
from fulcrum.core.neighbour_source import INTERACTIONS, profile_sources
from fulcrum.core.repeat_term import RepeatShape, profile_strengths
from offline.model.hybrid_fit import bought_scores
from offline.pipeline.bundle_eval import _hybrid_adjust
from offline.report.bundle_model import profiles_at
from online.server.profile_rows import derive

SHAPE = RepeatShape(True, half_life_days=1.0, engaged_weight=4.0)
REPEAT = 2.0
T0 = pd.Timestamp("2024-01-10", tz="UTC")


@pytest.fixture(scope="module")
def cat(tiny_bundle: Path):
    c = load_bundle(tiny_bundle, execution_provider="cpu", intra_op_threads=1).catalogue
    return dataclasses.replace(c, hybrid=hy.HybridWeights(0.7, 0.3, INTERACTIONS, REPEAT, SHAPE))


def _events(cat) -> pd.DataFrame:
    ids = [str(i) for i in cat.item_ids[:6]]
    rows = [  # (item, type, days after T0)
        (ids[1], "VIEW", 0.0), (ids[1], "VIEW", 1.0), (ids[3], "ADD_TO_CART", 1.0),
        (ids[0], "PURCHASE", 2.0), (ids[2], "CANCEL", 2.5), (ids[5], "VIEW", 2.0),
    ]
    return pd.DataFrame({
        "user_id": "u", "item_id": [r[0] for r in rows], "event_type": [r[1] for r in rows],
        "timestamp": [T0 + pd.Timedelta(days=r[2]) for r in rows],
    })


def test_every_path_gives_the_same_graded_repeat_scores(cat) -> None:
    events = _events(cat)
    at = T0 + pd.Timedelta(days=3)
    profile = profiles_at(events, at.timestamp())["u"]
    # hand-worked, ages in days before the profile's newest event (the cancellation, day 2.5;
    # any kind counts as the user's last activity): row 1 views at ages 2.5 and 1.5
    # (2^-2.5 + 2^-1.5), row 3 a cart at 1.5 (4 * 2^-1.5), row 0 a purchase at 0.5
    # (4 * 2^-0.5), row 5 a view at 0.5; row 2 only cancelled
    got = profile_strengths(profile, SHAPE)
    want = {1: 2 ** -2.5 + 2 ** -1.5, 3: 4 * 2 ** -1.5, 0: 4 * 2 ** -0.5, 5: 2 ** -0.5}
    assert {cat.index[i]: v for i, v in got.items()} == pytest.approx(
        {r: math.log2(1 + s) for r, s in want.items()}, abs=1e-12)
    own = np.zeros(len(cat))
    for r, s in want.items():
        own[r] = math.log2(1 + s)
    user = cat.embeddings[[2, 4]].mean(axis=0)
    cosine = (cat.embeddings @ user).astype(np.float64)
    sources = sorted(cat.index[i] for i in profile_sources(profile, INTERACTIONS))
    definition = (hy.standardise(cosine) + 0.7 * hy.standardise(cat.neighbours.scores(sources, len(cat)))
                  + 0.3 * cat.trend_all + REPEAT * own)
    # serving: the cached rows, then the full score
    rows = derive(cat, profile, 3)
    assert rows.own[0].tolist() == [0, 1, 3, 5] and not rows.own[1].flags.writeable
    _, served = cat.retrieval_scores(user, bought_rows=rows.sources, prior=rows.prior)
    assert np.allclose(served, definition, rtol=0, atol=1e-12)
    top, _, score = cat.retrieve(user, 5, None, rows.sources, rows.prior, rows.own)
    assert np.array_equal(score, np.sort(served)[::-1][:5])
    # offline evaluation (bench quality's serving row): the profile's ids and own_of
    _, evaluated = cat.retrieval_scores(user, profile_sources(profile, INTERACTIONS), trend=cat.trend_all,
                                        own=cat.own_of(profile))
    assert np.array_equal(evaluated, served)
    # training's validation and self-check: the slice profile names items by row
    by_row = dataclasses.replace(
        profile, recent_items=tuple(str(cat.index[i]) for i in profile.recent_items),
        bought=frozenset(str(cat.index[i]) for i in profile.bought))
    trained = bought_scores(cat.neighbours, cat.trend_all, cat.hybrid)(
        cosine[None, :], [set(sources)], None, [by_row])[0]
    assert np.allclose(trained, served, rtol=0, atol=1e-12)
    # the retrain judge: profiles folded from the same events as of the same moment
    judged = _hybrid_adjust((cat.hybrid, cat.neighbours, cat.trend_all, 0.0), dict(cat.index), events, at)
    assert np.allclose(judged("u", cosine), served, rtol=0, atol=1e-12)
    # a graded bundle refuses to score without the values (never a silent indicator)
    with pytest.raises(ValueError, match="graded repeat term"):
        cat.retrieval_scores(user, bought_rows=np.array(sources))


def test_ann_pool_scores_the_graded_values_exactly() -> None:
    pytest.importorskip("faiss")
    from tests.core.bundle.test_ann import _catalogue, _exact, _users

    base = _catalogue()
    cat = dataclasses.replace(base, hybrid=hy.HybridWeights(0.15, 0.75, INTERACTIONS, 20.0, SHAPE))
    user = _users(cat, 1)[0]
    cosine = cat.embeddings @ user
    sources = np.sort(np.argsort(cosine)[:3]).astype(np.int64)  # far outside the cosine pool
    own = (sources, np.array([0.5, 2.0, 1.0]))
    assert cat.ann_active
    rows, _, score = cat.retrieve(user, 20, None, sources, None, own)
    exact_rows, _, exact_score = _exact(cat).retrieve(user, 20, None, sources, None, own)
    assert set(sources.tolist()) <= set(rows.tolist())
    assert np.array_equal(np.sort(rows), np.sort(exact_rows))
    assert np.allclose(score, exact_score, rtol=0, atol=1e-6)
    # the graded value, not 1: the row with value 2 sits 20 * (2 - 0.5) above a row with 0.5 net
    # of their other terms
    plain = dataclasses.replace(cat, hybrid=dataclasses.replace(cat.hybrid, repeat=0.0))
    _, base_scores = _exact(plain).retrieval_scores(user, bought_rows=sources)
    pos = {int(r): s for r, s in zip(rows, score, strict=True)}
    for r, v in zip(*own, strict=True):
        assert pos[int(r)] == pytest.approx(base_scores[r] + 20.0 * v, abs=1e-6)
