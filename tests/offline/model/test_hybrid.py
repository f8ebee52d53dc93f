"""The hybrid retrieval score (fulcrum/core/hybrid.py) and its offline parts
(offline/model/hybrid_fit.py), with hand-worked expectations."""

from __future__ import annotations

import numpy as np
import pytest

from fulcrum.core.hybrid import (
    HybridWeights,
    NeighbourTable,
    hybrid_scores,
    standardise,
    weights_from_manifest,
)


def _table() -> NeighbourTable:
    # source 0 -> (item 1, 0.5), (item 2, 0.25); source 1 -> (item 0, 0.5); source 2 -> nothing
    return NeighbourTable(
        np.array([0, 2, 3, 3]), np.array([1, 2, 0]), np.array([0.5, 0.25, 0.5], np.float32)
    )


def test_neighbour_scores_sum_the_rows_of_bought_items() -> None:
    t = _table()
    # bought {0}: item 1 gets 0.5, item 2 gets 0.25
    assert t.scores([0], 4).tolist() == [0.0, 0.5, 0.25, 0.0]
    # bought {0, 1}: row 0 + row 1 -> item 0 gets 0.5 from source 1
    assert t.scores([0, 1], 4).tolist() == [0.5, 0.5, 0.25, 0.0]
    # a source past the table (an item upserted while serving) and an empty row add nothing
    assert t.scores([2, 7], 4).tolist() == [0.0, 0.0, 0.0, 0.0]
    # targets past n_items are dropped (a catalogue snapshot shorter than the table)
    assert t.scores([0], 2).tolist() == [0.0, 0.5]


def test_neighbour_table_refuses_inconsistent_arrays() -> None:
    with pytest.raises(ValueError, match="indptr ends at 3"):
        NeighbourTable(np.array([0, 3]), np.array([1, 2]), np.array([0.1, 0.2], np.float32))
    with pytest.raises(ValueError, match="start at 0"):
        NeighbourTable(np.array([1, 2]), np.array([1]), np.array([0.1], np.float32))


def test_neighbour_table_round_trips_through_a_file(tmp_path) -> None:
    t = _table()
    t.save(tmp_path / "n.npz")
    back = NeighbourTable.load(tmp_path / "n.npz")
    assert back.indptr.tolist() == t.indptr.tolist()
    assert back.indices.tolist() == t.indices.tolist()
    assert np.allclose(back.data, t.data)


def test_standardise() -> None:
    # [1, 2, 3]: mean 2, population std sqrt(2/3) -> [-1.2247, 0, 1.2247]
    assert np.allclose(standardise(np.array([1.0, 2.0, 3.0])), [-1.224745, 0.0, 1.224745])
    # constant -> zeros; -inf entries are left alone and do not count
    assert standardise(np.array([4.0, 4.0])).tolist() == [0.0, 0.0]
    out = standardise(np.array([1.0, 3.0, -np.inf]))
    assert out[:2].tolist() == [-1.0, 1.0] and out[2] == -np.inf


def test_hybrid_scores_combine_the_three_parts() -> None:
    cosine = np.array([0.9, 0.5, 0.1])  # z = [1.2247, 0, -1.2247]
    neighbour = np.array([0.0, 0.0, 3.0])  # mean 1, std 1.4142 -> z = [-0.7071, -0.7071, 1.4142]
    trend = np.array([0.0, 1.0, 0.0])
    w = HybridWeights(neighbour=1.0, trend=0.5)
    got = hybrid_scores(cosine, neighbour, trend, w)
    # item 0: 1.2247 - 0.7071 + 0 = 0.5176; item 1: 0 - 0.7071 + 0.5 = -0.2071;
    # item 2: -1.2247 + 1.4142 + 0 = 0.1895 -> the neighbours lift item 2 above item 1
    assert np.allclose(got, [0.517638, -0.207107, 0.189469], atol=1e-5)
    assert np.argsort(-got).tolist() == [0, 2, 1]


def test_inactive_weights_keep_the_cosine() -> None:
    cosine = np.array([0.3, 0.7])
    assert hybrid_scores(cosine, np.array([5.0, 0.0]), np.array([1.0, 0.0]), HybridWeights()).tolist() == [
        0.3,
        0.7,
    ]


def test_weights_are_validated_and_read_from_the_manifest() -> None:
    with pytest.raises(ValueError, match="hybrid.trend_weight"):
        HybridWeights(0.1, -1.0)
    assert weights_from_manifest({}) == HybridWeights()
    assert weights_from_manifest({"hybrid": {"neighbour_weight": 0.2, "trend_weight": 0.1}}) == HybridWeights(
        0.2, 0.1
    )


def test_neighbour_table_from_purchases() -> None:
    from offline.model.hybrid_fit import neighbour_table

    # users: u0 bought {0, 1}, u1 bought {0, 1, 2} (item 0 twice: counts once), u2 bought {2}
    users = np.array([0, 0, 1, 1, 1, 1, 2])
    items = np.array([0, 1, 0, 0, 1, 2, 2])
    t = neighbour_table(users, items, 3, 3, n_neighbours=1)
    # buyers: item0 {u0,u1}, item1 {u0,u1}, item2 {u1,u2}. cos(0,1) = 2/2 = 1; cos(0,2) = cos(1,2)
    # = 1/2. Top-1 neighbour: item 0 -> 1, item 1 -> 0, item 2 -> 0 (tie with 1, lower index).
    # By source: source 0 feeds items 1 and 2; source 1 feeds item 0.
    assert np.allclose(t.scores([0], 3), [0.0, 1.0, 0.5])
    assert np.allclose(t.scores([1], 3), [1.0, 0.0, 0.0])
    assert np.allclose(t.scores([2], 3), [0.0, 0.0, 0.0])


def test_hybrid_parts_table_from_the_source_events_and_trend_from_purchases() -> None:
    from offline.model.hybrid_fit import hybrid_parts

    day = 86_400.0
    # purchases: u0 bought item 0 (day 1), u1 bought item 2 (day 2): no co-purchase at all
    pu, pi, pt = np.array([0, 1]), np.array([0, 2]), np.array([1.0, 2.0]) * day
    plain = hybrid_parts(pu, pi, pt, 10 * day, 3, 5, 14.0)
    assert np.allclose(plain[0].scores([0], 3), 0.0)  # purchase co-occurrence: nothing
    # the same call with the purchases as table events is the purchase path, array for array
    same = hybrid_parts(pu, pi, pt, 10 * day, 3, 5, 14.0, table_events=(pu, pi, pt))
    for a, b in zip((plain[0].indptr, plain[0].indices, plain[0].data, plain[1]), (
            same[0].indptr, same[0].indices, same[0].data, same[1]), strict=True):
        assert np.array_equal(a, b)
    # positive interactions: u0 viewed item 1 and bought item 0; u1 viewed items 0 and 1; a view
    # of item 2 at day 10 is at the cut (not before it) and is left out. Users of item 0 {u0, u1},
    # item 1 {u0, u1}: cosine 1; item 2 {u1 (its purchase)}: cos(2, 0) = cos(2, 1) = 1/sqrt(2)
    eu, ei = np.array([0, 0, 1, 1, 1, 0]), np.array([0, 1, 2, 0, 1, 2])
    et = np.array([1.0, 1.0, 2.0, 3.0, 3.0, 10.0]) * day
    table, trend, zero = hybrid_parts(pu, pi, pt, 10 * day, 3, 5, 14.0, table_events=(eu, ei, et))
    assert np.allclose(table.scores([0], 3), [0.0, 1.0, 2 ** -0.5], atol=1e-6)
    # the trend prior stays the purchases' (views are not sales)
    assert np.array_equal(trend, plain[1]) and zero == plain[2]


def test_slice_sources_follow_the_profile_rule() -> None:
    from fulcrum.core import feature_names as fn
    from fulcrum.core.schema import EVENT_TYPE_CODE as code
    from offline.model.slice_sources import slice_sources
    from tests.offline.model.test_examples_scale import _inter

    day = 86_400.0
    # u0: a purchase of item 7, then RECENT_MAX views of items 1..RECENT_MAX in time order, then
    # a cancel of item 0, then (after the cut at day 1000) a view of item 0. The profile's recent
    # sequence keeps the newest RECENT_MAX non-impression events before the cut: views of items
    # 2..RECENT_MAX and the cancel (not positive); the purchase and item 1 fell out of it, but the
    # purchase stays in the bought set
    n = fn.RECENT_MAX
    items = np.r_[7, np.arange(1, n + 1), 0, 0]
    types = np.r_[code["PURCHASE"], np.full(n, code["VIEW"]), code["CANCEL"], code["VIEW"]]
    times = np.r_[0.5, np.arange(1, n + 1), n + 1, 1000 + 1] * day
    inter = _inter([(items, types, times)], n_items=n + 1)
    got = slice_sources(inter, [0], np.array([1000 * day]), [{7}], "interactions")
    assert got == [{7, *range(2, n + 1)}]
    bought = [{7}]
    assert slice_sources(inter, [0], np.array([1000 * day]), bought, "purchases") is bought


def test_trend_prior_counts_distinct_recent_buyers() -> None:
    from offline.model.trend_prior import trend_prior

    day = 86_400.0
    at = 100 * day
    # item 0: users 0 and 1 in the window (user 0 twice) -> 2; item 1: one buyer in the window,
    # one too old -> 1; item 2: only at `at` itself (excluded) -> 0
    users = np.array([0, 0, 1, 2, 3, 4])
    items = np.array([0, 0, 0, 1, 1, 2])
    times = np.array([99, 98, 95, 99, 80, 100]) * day
    t, zero = trend_prior(users, items, times, at, days=14, n_items=3)
    expect = standardise(np.log1p(np.array([2.0, 1.0, 0.0])))
    assert np.allclose(t, expect, atol=1e-6)
    assert t[0] > t[1] > t[2]
    # item 2 had no buyer in the window, so "no buyer" standardises to its value: log1p(0) = 0,
    # mean (log 3 + log 2) / 3 = 0.5973, std 0.4536 -> -1.3169
    assert zero == pytest.approx(float(t[2]), abs=1e-6)
    assert zero == pytest.approx(-1.3169, abs=1e-3)


def test_bought_scores_matches_the_row_by_row_score() -> None:
    from offline.model.hybrid_fit import bought_scores

    t = _table()
    trend = np.array([0.0, 1.0, -1.0, 0.0])
    w = HybridWeights(0.3, 0.2)
    cosine = np.array([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]])
    bought = [{0}, {0, 1}]
    got = bought_scores(t, trend, w)(cosine, bought)
    for r in range(2):
        want = hybrid_scores(cosine[r], t.scores(sorted(bought[r]), 4), trend, w)
        assert np.allclose(got[r], want)


def test_choose_weights_takes_the_best_point_and_smaller_weights_on_ties() -> None:
    from offline.model.hybrid_fit import choose_weights

    # a made-up validation score peaking at (0.2, 0.1); (0.3, 0.1) ties with it
    table = {(0.2, 0.1): 0.12, (0.3, 0.1): 0.12}

    def evaluate(w: HybridWeights) -> dict[str, float]:
        return {"ndcg@10": table.get((w.neighbour, w.trend), 0.05)}

    best, points = choose_weights(evaluate, [0.0, 0.3, 0.2], [0.1, 0.0])
    assert best == HybridWeights(0.2, 0.1)
    assert len(points) == 6
    assert {(p["neighbour_weight"], p["trend_weight"]) for p in points} == {
        (a, b) for a in (0.0, 0.2, 0.3) for b in (0.0, 0.1)
    }


def _prepared_folder(path, rng) -> None:
    """A random little purchase log on a time split: 30 users, 12 items, 40 days, test from day 30."""
    import pandas as pd

    from fulcrum.core import schema as S

    t0 = pd.Timestamp("2011-01-01", tz="UTC")
    n = 400
    days, hours = rng.integers(0, 40, n), rng.integers(0, 24, n)
    ev = pd.DataFrame(
        {
            S.EVENT_ID: [f"e{i}" for i in range(n)],
            S.USER_ID: [f"u{u}" for u in rng.integers(0, 30, n)],
            S.ITEM_ID: [f"i{i}" for i in rng.integers(0, 12, n)],
            S.EVENT_TYPE: "PURCHASE",
            S.QUANTITY: 1.0,
            S.PRICE: 1.0,
            S.TIMESTAMP: t0 + pd.to_timedelta(days * 24 + hours, unit="h"),
            S.SESSION_ID: "s",
            S.SPLIT: ["train" if d < 30 else "test" for d in days],
        }
    )
    items = pd.DataFrame({S.ITEM_ID: [f"i{i}" for i in range(12)], S.ITEM_TEXT: "x", S.PRICE: 1.0,
                          S.FIRST_SEEN: t0})
    ev.to_parquet(path / S.EVENTS_FILE)
    items.to_parquet(path / S.ITEMS_FILE)


def _grid_parts(inter, rng):
    """(validation cuts, validation purchase pairs, random item vectors, a stand-in user tower,
    neighbour table, trend source) of a prepared folder's interactions, for the fast-grid tests."""
    from offline.model.hybrid_fit import neighbour_table
    from offline.model.interactions import PURCHASE_CODE
    from offline.model.trend_prior import trend_source

    cut = inter.validation_cuts(10.0)
    fit = (inter.ev_time < cut[inter.ev_user]) & (inter.ev_type == PURCHASE_CODE)
    val = (inter.ev_time >= cut[inter.ev_user]) & (inter.ev_type == PURCHASE_CODE)
    pairs = (inter.ev_user[val], inter.ev_item[val])
    vecs = rng.normal(size=(inter.n_items, 4)).astype(np.float32)

    def encode(emb, typ, age, mask):  # a stand-in user tower: the mean of the history's vectors
        return (emb * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1.0)

    u, i, t = inter.ev_user[fit], inter.ev_item[fit], inter.ev_time[fit]
    table = neighbour_table(u, i, len(inter.user_ids), inter.n_items, 3)
    return cut, pairs, vecs, encode, table, trend_source(inter, u, i, t, 7.0)


def test_slice_evaluator_matches_discovery_eval_point_by_point(tmp_path) -> None:
    # the fast grid (parts standardised once per slice) must score every weighting exactly as the
    # plain path does: discovery_eval with the hybrid adjust, cosine included
    from offline.model.holdout import DiscoverySlice, discovery_eval
    from offline.model.hybrid_fit import bought_scores, slice_evaluator
    from offline.model.interactions import load_interactions

    rng = np.random.default_rng(3)
    _prepared_folder(tmp_path, rng)
    inter = load_interactions(tmp_path)
    cut, pairs, vecs, encode, table, trend = _grid_parts(inter, rng)
    sl = DiscoverySlice.build(inter, cut, pairs, 5)
    assert len(sl.warm) > 5  # the random log gives a real slice
    points = [HybridWeights(), HybridWeights(0.5, 0.0), HybridWeights(0.0, 0.7), HybridWeights(1.5, 2.0)]
    fast = slice_evaluator(sl, vecs, encode, table, trend, points)
    for w in points:
        slow = discovery_eval(inter, vecs, encode, cut, pairs, 5, adjust=bought_scores(table, trend, w))
        assert fast(w) == pytest.approx(slow, abs=1e-12)


def test_soft_cap_keeps_order_and_leaves_values_below_the_cap() -> None:
    from offline.model.trend_prior import TREND_CAP, soft_cap

    z = np.array([-1.3, 0.0, 3.2, 4.0, 5.0, 12.0])
    got = soft_cap(z)
    # up to the cap (4): unchanged (Online Retail's prior peaks at 3.2);
    # above: 4 + log1p(z - 4): 5 -> 4 + log 2 = 4.6931, 12 -> 4 + log 9 = 6.1972
    assert TREND_CAP == 4.0
    assert np.allclose(got, [-1.3, 0.0, 3.2, 4.0, 4.6931, 6.1972], atol=1e-4)
    assert (np.diff(got) > 0).all()  # the order of items is kept


def test_trend_prior_of_a_heavy_tailed_shop_is_capped() -> None:
    from offline.model.trend_prior import soft_cap, trend_prior

    # 1 item with one buyer among 1000: standardised, that buyer alone is sqrt(999) = 31.6
    t, _ = trend_prior(np.array([0]), np.array([0]), np.array([0.0]), 1.0, days=14, n_items=1000)
    raw = standardise(np.log1p(np.r_[1.0, np.zeros(999)]))
    assert raw[0] == pytest.approx(np.sqrt(999), rel=1e-6)
    assert t[0] == pytest.approx(float(soft_cap(raw)[0]), rel=1e-6)
    assert t[0] == pytest.approx(4 + np.log1p(np.sqrt(999) - 4), rel=1e-6)  # 7.35


def test_trend_scale_starts_at_one_unless_the_prior_reaches_far() -> None:
    import torch

    from offline.model.retrieval_fit import TREND_INIT_LOGIT, trend_scale_init

    assert trend_scale_init(torch.tensor([[-1.0, 3.2]])) == 1.0  # within 4 logits: 1
    # a prior reaching 8: the scale starts at 4 / 8, so the prior adds at most 4 logits at first
    assert trend_scale_init(torch.tensor([[-1.0, 8.0]])) == pytest.approx(TREND_INIT_LOGIT / 8.0)
    assert trend_scale_init(torch.zeros((0, 3))) == 1.0
