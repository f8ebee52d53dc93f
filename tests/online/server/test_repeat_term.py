"""The hybrid's repeat term served as evaluated: for one hand-worked profile, serving's derived
rows (online/server/profile_rows.py), offline evaluation's call (offline/report/bundle_model.py:
``retrieval_scores`` with the profile's sources and a trend), training's validation adjust
(offline/model/hybrid_fit.py ``bought_scores``) and the ANN pool (fulcrum/core/bundle/
ann_retrieval.py) give the same numbers; a purchase-source bundle is untouched."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from fulcrum.core import hybrid as hy
from fulcrum.core.bundle.loader import load_bundle
from fulcrum.core.neighbour_source import INTERACTIONS, profile_sources
from offline.model.hybrid_fit import bought_scores
from online.server.profile_rows import derive
from tests.online.server.profiles import looker

REPEAT = 2.0


@pytest.fixture(scope="module")
def cat(tiny_bundle: Path):
    c = load_bundle(tiny_bundle, execution_provider="cpu", intra_op_threads=1).catalogue
    assert c.neighbours is not None and c.trend is not None
    return dataclasses.replace(c, hybrid=hy.HybridWeights(0.7, 0.3, INTERACTIONS, REPEAT))


def test_serving_offline_evaluation_and_validation_give_the_same_repeat_scores(cat) -> None:
    profile = looker(cat)
    user = cat.embeddings[[2, 5, 6]].mean(axis=0)
    rows = derive(cat, profile, 3)
    assert rows.sources.tolist() == [0, 1, 3]  # bought 0, viewed 1, carted 3
    assert not rows.prior.repeat.flags.writeable
    assert rows.nbytes == sum(a.nbytes for a in (rows.bought, rows.others, rows.sources,
                                                 rows.prior.neighbour, rows.prior.repeat, *rows.own))
    # an indicator bundle (no graded fields in its manifest): 1 at each own row, as before
    assert rows.own[0].tolist() == [0, 1, 3] and rows.own[1].tolist() == [1.0, 1.0, 1.0]
    _, served = cat.retrieval_scores(user, bought_rows=rows.sources, prior=rows.prior)
    # the definition, written out: z(cos) + 0.7 z(neighbours of 0, 1, 3) + 0.3 trend + 2 [own]
    cosine = (cat.embeddings @ user).astype(np.float64)
    own = np.zeros(len(cat))
    own[[0, 1, 3]] = 1.0
    want = hy.standardise(cosine) + 0.7 * hy.standardise(cat.neighbours.scores([0, 1, 3], len(cat)))
    want = want + 0.3 * cat.trend_all + REPEAT * own
    assert np.array_equal(served, want)
    # the term is exactly +2 on the three own items and nothing elsewhere
    off = dataclasses.replace(cat, hybrid=dataclasses.replace(cat.hybrid, repeat=0.0))
    _, without = off.retrieval_scores(user, bought_rows=rows.sources)
    assert np.allclose(served - without, REPEAT * own, atol=1e-12)
    # offline evaluation: the profile's sources as ids, the trend as of the user's moment
    _, evaluated = cat.retrieval_scores(user, profile_sources(profile, INTERACTIONS), trend=cat.trend_all)
    assert np.array_equal(evaluated, served)
    # training's validation (and the self-check): the batch adjust on the same sources
    trained = bought_scores(cat.neighbours, cat.trend_all, cat.hybrid)(cosine[None, :], [{0, 1, 3}])[0]
    assert np.allclose(trained, served, rtol=0, atol=1e-12)
    # the same top of the list through Recommend's retrieve
    top, _, score = cat.retrieve(user, 5, None, rows.sources, rows.prior)
    assert np.array_equal(score, np.sort(served)[::-1][:5])


def test_ann_pool_holds_the_users_own_items_and_scores_them_exactly() -> None:
    pytest.importorskip("faiss")
    from tests.core.bundle.test_ann import _catalogue, _exact, _users

    base = _catalogue()
    cat = dataclasses.replace(base, hybrid=hy.HybridWeights(0.15, 0.75, INTERACTIONS, 20.0))
    user = _users(cat, 1)[0]
    # the user's own items: the rows of LOWEST cosine, far outside the nearest-neighbour pool
    cosine = cat.embeddings @ user
    sources = np.sort(np.argsort(cosine)[:3]).astype(np.int64)
    assert cat.ann_active
    rows, _, score = cat.retrieve(user, 20, None, sources)
    exact_rows, _, exact_score = _exact(cat).retrieve(user, 20, None, sources)
    assert set(sources.tolist()) <= set(rows.tolist())  # a bonus of 20 z-units brings them in
    assert set(sources.tolist()) <= set(exact_rows.tolist())
    assert np.array_equal(np.sort(rows), np.sort(exact_rows))
    assert np.allclose(score, exact_score, rtol=0, atol=1e-6)
    # without the repeat weight those rows are nowhere near the list
    plain = dataclasses.replace(cat, hybrid=dataclasses.replace(cat.hybrid, repeat=0.0))
    assert not set(sources.tolist()) & set(plain.retrieve(user, 20, None, sources)[0].tolist())


def test_a_purchase_only_shop_trains_and_serves_without_the_term(tiny_bundle: Path) -> None:
    # the tiny bundle is trained on a purchase-only log (as Online Retail): the grid never
    # searched a repeat weight, the manifest reads as before the term, serving adds nothing
    import json

    block = json.loads((tiny_bundle / "manifest.json").read_text())["hybrid"]
    assert block["neighbour_source"] == "purchases" and "repeat_weight" not in block
    assert block["validation_grid"] and all("repeat_weight" not in p for p in block["validation_grid"])
    c = load_bundle(tiny_bundle, execution_provider="cpu", intra_op_threads=1).catalogue
    assert c.hybrid.repeat == 0.0
    rows = derive(c, looker(c), 3)
    assert rows.prior is None or rows.prior.repeat is None
