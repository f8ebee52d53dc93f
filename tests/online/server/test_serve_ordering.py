"""ranking_mode end to end: a real grpc.aio server (port 0) per mode, Recommend and Search.

blend is an affine map of z-scores, so blend_weight 0 must give the retrieval order and
blend_weight 1 the ranker order: this checks the config reaches fulcrum.core.rerank.ordering.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from fulcrum.core.profile import UserProfile
from fulcrum.v1 import recommender_pb2 as pb
from online.server.feature_source import InMemoryFeatures
from tests.serving_helpers import make_bundle, serving

NOW = time.time()
PLAIN = pb.RecommendOptions(exploration_share=0, diversity=0, seed=1)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("bundle") / "b1", version="order-1")


def warm_user() -> UserProfile:
    return UserProfile(
        user_id="alice",
        recent_items=("sku-004", "sku-008", "sku-012"),
        recent_types=("PURCHASE", "VIEW", "PURCHASE"),
        recent_times=(NOW - 3e5, NOW - 2e5, NOW - 1e5),
        purchase_count=2,
        distinct_items=3,
        last_active=NOW - 1e5,
        bought=frozenset({"sku-004", "sku-012"}),
    )


def answers(bundle, **config):
    async def body():
        async with serving(bundle, InMemoryFeatures([warm_user()]), **config) as (stub, *_):
            rec = await stub.Recommend(pb.RecommendRequest(user_id="alice", k=10, options=PLAIN))
            found = await stub.Search(pb.SearchRequest(query="sku", user_id="alice", k=10, options=PLAIN))
            return rec, found

    return asyncio.run(body())


def test_ranking_modes_reach_recommend_and_search(bundle):
    # tail boost off: the scores are the modes' own (a boost adds up to tail_boost on a 0-1 scale)
    retrieval = answers(bundle, tail_boost=0.0)  # the default mode
    ranker = answers(bundle, ranking_mode="ranker", tail_boost=0.0)
    blend0 = answers(bundle, ranking_mode="blend", blend_weight=0.0, tail_boost=0.0)
    blend1 = answers(bundle, ranking_mode="blend", blend_weight=1.0, tail_boost=0.0)
    for rec, found in (retrieval, ranker, blend0, blend1):
        assert len(rec.items) == 10 and all(i.reason == pb.Reason.PERSONALISED for i in rec.items)
        for reply in (rec, found):
            scores = [i.score for i in reply.items]
            assert scores == sorted(scores, reverse=True)  # no diversity, no exploration: score order
    # ranker mode's score is purchase_prob
    assert all(0.0 <= i.score <= 1.0 for i in ranker[0].items)
    for a, b in ((blend0, retrieval), (blend1, ranker)):
        for ra, rb in zip(a, b, strict=True):
            assert [i.item_id for i in ra.items] == [i.item_id for i in rb.items]


def test_cancel_risk_weight_lowers_the_scores(bundle):
    plain = answers(bundle, ranking_mode="ranker")[0]
    risky = answers(bundle, ranking_mode="ranker", cancel_risk_weight=1.0)[0]
    before = {i.item_id: i.score for i in plain.items}
    after = {i.item_id: i.score for i in risky.items}
    common = before.keys() & after.keys()
    assert common
    # score = purchase_prob - 1.0 x cancel_prob <= purchase_prob, item by item
    assert all(after[i] <= before[i] + 1e-6 for i in common)


def test_tail_boost_reaches_recommend(bundle):
    from fulcrum.core.bundle.loader import load_bundle

    cat = load_bundle(bundle, execution_provider="cpu", intra_op_threads=1).catalogue
    tail = {str(i) for i, t in zip(cat.item_ids, cat.is_tail, strict=True) if t}
    plain, _ = answers(bundle)
    boosted, _ = answers(bundle, tail_boost=10.0)
    # a boost >= 1 puts every tail candidate ahead of every head one: with more tail candidates
    # than slots, the boosted list is all tail, while the plain one holds head items
    assert len(tail) > 10 + len(warm_user().bought)
    assert all(i.item_id in tail for i in boosted.items)
    assert any(i.item_id not in tail for i in plain.items)
