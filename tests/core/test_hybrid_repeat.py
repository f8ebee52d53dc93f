"""The hybrid score's repeat term (fulcrum/core/hybrid.py): hand-worked numbers, the manifest
field, the rule that it needs the interactions source, the grid's shortlist with it
(offline/model/grid_topk.py), the training grid that searches it only under the repeat-allowed
protocol (offline/model/hybrid_fit.py), and a zero weight that changes nothing, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from fulcrum.core import hybrid as hy
from fulcrum.core import neighbour_source as ns
from offline.model.grid_topk import grid_topk, shortlist


def test_hand_worked_repeat_term() -> None:
    # cosine [1, 3, 1, 3]: mean 2, std 1 -> z = [-1, 1, -1, 1]; the user's sources are rows 0
    # and 2 (row 7 lies outside the catalogue and is ignored); repeat weight 1.5 adds 1.5 to
    # rows 0 and 2, unstandardised: [0.5, 1, 0.5, 1]
    cosine = np.array([1.0, 3.0, 1.0, 3.0])
    rep = hy.repeat_indicator([0, 2, 7], 4)
    assert rep.tolist() == [1.0, 0.0, 1.0, 0.0]
    w = hy.HybridWeights(0.0, 0.0, ns.INTERACTIONS, 1.5)
    assert w.active
    assert hy.hybrid_scores(cosine, None, None, w, rep).tolist() == [0.5, 1.0, 0.5, 1.0]
    # the split form serving keeps per user gives the same numbers
    prior = hy.hybrid_prior(None, None, w, rep)
    assert prior.repeat.tolist() == [1.5, 0.0, 1.5, 0.0]
    assert hy.hybrid_with_prior(cosine, prior, w).tolist() == [0.5, 1.0, 0.5, 1.0]
    # the ANN path's pool form: the rows 2 and 3 only, with the catalogue's cosine stats (2, 1)
    part = hy.hybrid_weights_parts(cosine[2:], (2.0, 1.0), None, (0.0, 0.0), None, w, rep[2:])
    assert part.tolist() == [0.5, 1.0]


def test_a_zero_repeat_weight_changes_nothing_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    cosine, nb, trend = rng.normal(size=50), rng.exponential(size=50), rng.normal(size=50)
    before = hy.hybrid_scores(cosine, nb, trend, hy.HybridWeights(0.3, 0.2))
    rep = hy.repeat_indicator([1, 2, 3], 50)
    for w in (hy.HybridWeights(0.3, 0.2), hy.HybridWeights(0.3, 0.2, ns.INTERACTIONS, 0.0)):
        assert np.array_equal(hy.hybrid_scores(cosine, nb, trend, w, rep), before)
    assert not hy.HybridWeights(0.0, 0.0, ns.INTERACTIONS, 0.0).active


def test_manifest_field_and_validation() -> None:
    base = {"neighbour_weight": 0.5, "trend_weight": 0.1}
    assert hy.weights_from_manifest({hy.MANIFEST_KEY: base}).repeat == 0.0  # older bundles
    got = hy.weights_from_manifest(
        {hy.MANIFEST_KEY: {**base, "neighbour_source": "interactions", "repeat_weight": 2.0}}
    )
    assert got == hy.HybridWeights(0.5, 0.1, ns.INTERACTIONS, 2.0)
    with pytest.raises(ValueError, match="hybrid.repeat_weight"):  # a purchase-only shop
        hy.weights_from_manifest({hy.MANIFEST_KEY: {**base, "repeat_weight": 2.0}})
    with pytest.raises(ValueError, match="hybrid.repeat_weight"):
        hy.HybridWeights(0.0, 0.0, ns.INTERACTIONS, -1.0)
    with pytest.raises(ValueError, match="hybrid.repeat_weight"):
        hy.HybridWeights(0.0, 0.0, ns.INTERACTIONS, float("nan"))


def test_grid_topk_with_the_repeat_vector_equals_the_full_ranking() -> None:
    # hand-worked: item 4 is the user's own (r = 1), nothing else special; k = 2
    x = np.array([0.9, 5.0, 0.1, 0.5, -3.0])
    zero = np.zeros(5)
    r = np.array([0.0, 0.0, 0.0, 0.0, 1.0])
    allowed = np.array([True, False, True, True, True])
    assert sorted(shortlist(x, zero, zero, allowed, 2, r).tolist()) == [0, 3, 4]
    got = grid_topk(x, zero, zero, allowed, [(0.0, 0.0, 0.0), (0.0, 0.0, 4.0), (0.0, 0.0)], 2, r)
    assert [g.tolist() for g in got] == [[0, 3], [4, 0], [0, 3]]  # -3 + 4 = 1 > 0.9
    with pytest.raises(ValueError, match="repeat vector"):
        grid_topk(x, zero, zero, allowed, [(0.0, 0.0, 1.0)], 2)
    # random heavy-tailed rows: the shortlist's top k is the full ranking's
    rng = np.random.default_rng(5)
    n, k = 3000, 10
    weights = [(a, b, c) for a in (0.0, 0.5) for b in (0.0, 1.0) for c in (0.0, 0.5, 2.0, 4.0)]
    for _ in range(10):
        x = rng.normal(size=n)
        y = np.where(rng.random(n) < 0.01, rng.exponential(size=n), 0.0)
        t = np.where(rng.random(n) < 0.01, rng.exponential(size=n), 0.0)
        r = hy.repeat_indicator(rng.integers(0, n, 15), n)
        allowed = rng.random(n) < 0.9
        for (a, b, c), top in zip(weights, grid_topk(x, y, t, allowed, weights, k, r), strict=True):
            s = np.where(allowed, x + a * y + b * t + c * r, -np.inf)
            assert np.allclose(np.sort(s[top])[::-1], np.sort(s)[::-1][:k])


def test_training_grid_searches_the_repeat_weight_only_where_repeats_are_targets() -> None:
    from offline.model.grid_search import grid_points
    from offline.model.hybrid_fit import choose_weights

    # purchase protocol (Online Retail): no repeat point, grid points read as before the term
    assert all(w.repeat == 0 and w.neighbour_source == ns.PURCHASES for w in grid_points([0, 1], [0, 1]))
    best, points = choose_weights(lambda w: {"ndcg@10": w.neighbour}, [0.0, 1.0], [0.0])
    assert best == hy.HybridWeights(1.0, 0.0) and all("repeat_weight" not in p for p in points)
    with pytest.raises(ValueError, match="hybrid.repeat_weight"):  # searched under purchases: refused
        grid_points([0.0], [0.0], [0.0, 1.0], ns.PURCHASES)
    # interactions (repeat-allowed): every (neighbour, trend, repeat) point, the best one chosen
    best, points = choose_weights(
        lambda w: {"ndcg@10": w.repeat - abs(w.neighbour - 0.5)}, [0.0, 0.5], [0.0],
        repeat_grid=[0.0, 2.0, 1.0], source=ns.INTERACTIONS,
    )
    assert best == hy.HybridWeights(0.5, 0.0, ns.INTERACTIONS, 2.0)
    assert [(p["neighbour_weight"], p["repeat_weight"]) for p in points] == [
        (0.0, 0.0), (0.0, 1.0), (0.0, 2.0), (0.5, 0.0), (0.5, 1.0), (0.5, 2.0)
    ]


def test_bought_scores_adds_the_repeat_term_of_each_rows_sources() -> None:
    from offline.model.hybrid_fit import bought_scores

    table = hy.NeighbourTable(np.array([0, 1, 2, 2, 2]), np.array([1, 0]), np.array([0.5, 0.5], np.float32))
    trend = np.array([0.0, 1.0, -1.0, 0.0])
    w = hy.HybridWeights(0.3, 0.2, ns.INTERACTIONS, 1.0)
    cosine = np.array([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]])
    sources = [{0}, {1, 3}]
    got = bought_scores(table, trend, w)(cosine, sources)
    for r in range(2):
        want = hy.hybrid_scores(cosine[r], table.scores(sorted(sources[r]), 4), trend, w,
                                hy.repeat_indicator(sorted(sources[r]), 4))
        assert np.array_equal(got[r], want)
    # row 0's own item 0 gets exactly +1 over the same score without the term
    plain = bought_scores(table, trend, hy.HybridWeights(0.3, 0.2, ns.INTERACTIONS))(cosine, sources)
    assert np.allclose(got - plain, [[1, 0, 0, 0], [0, 1, 0, 1]])
