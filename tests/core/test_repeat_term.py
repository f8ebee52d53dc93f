"""The graded repeat term (fulcrum/core/repeat_term.py): hand-worked strengths, the indicator it
replaces (bit for bit), the manifest fields (an older bundle reads as the indicator), the config
grid of shapes and its validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fulcrum.core import hybrid as hy
from fulcrum.core import neighbour_source as ns
from fulcrum.core import repeat_term as rt
from fulcrum.core.profile import UserProfile

DAY = 86_400.0


def _profile() -> UserProfile:
    # oldest first: a viewed 3 days before the newest event, b carted 1 day before, a viewed
    # again 1 day before, c cancelled (not positive), d viewed at the newest moment; bought:
    # b (no purchase of it in the sequence: it left the capped sequence) and e (same)
    return UserProfile(
        "u",
        recent_items=("a", "b", "a", "c", "d"),
        recent_types=("VIEW", "ADD_TO_CART", "VIEW", "CANCEL", "VIEW"),
        recent_times=(10 * DAY, 12 * DAY, 12 * DAY, 12.5 * DAY, 13 * DAY),
        bought=frozenset({"b", "e"}),
    )


def test_hand_worked_graded_strengths() -> None:
    shape = rt.RepeatShape(True, half_life_days=1.0, engaged_weight=4.0)
    got = rt.profile_strengths(_profile(), shape)
    # newest event at day 13, oldest at day 10 (age 3 days: decay 2^-3 = 1/8)
    # a: view at age 3 (1/8) + view at age 1 (1/2)              -> S = 0.625
    # b: cart at age 1 (4 * 1/2 = 2) + bought outside the sequence: 4 * 1/8 = 0.5 -> S = 2.5
    # d: view at age 0                                            -> S = 1
    # e: bought outside the sequence                              -> S = 0.5
    # c: only a cancellation: not an own item
    want = {"a": 0.625, "b": 2.5, "d": 1.0, "e": 0.5}
    assert got.keys() == want.keys()
    for item, s in want.items():
        assert got[item] == pytest.approx(math.log2(1.0 + s), abs=1e-15)
    assert got["d"] == 1.0  # one fresh view: the indicator's value
    # no decay, every behaviour alike: a plain count of positive events (a bought item outside
    # the sequence counts once)
    flat = rt.profile_strengths(_profile(), rt.RepeatShape(True, 0.0, 1.0))
    assert flat == {"a": math.log2(3.0), "b": math.log2(3.0), "d": 1.0, "e": 1.0}


def test_a_purchase_in_the_sequence_is_not_counted_twice() -> None:
    p = UserProfile("u", recent_items=("x",), recent_types=("PURCHASE",), recent_times=(5.0,),
                    bought=frozenset({"x"}))
    assert rt.profile_strengths(p, rt.RepeatShape(True, 1.0, 3.0)) == {"x": 2.0}  # log2(1 + 3)


def test_the_indicator_is_the_old_term_bit_for_bit() -> None:
    p = _profile()
    got = rt.profile_strengths(p, rt.INDICATOR)
    assert got == dict.fromkeys(ns.profile_sources(p, ns.INTERACTIONS), 1.0)
    index = {i: r for r, i in enumerate("abcdefg")}
    rows, values = rt.own_rows(got, index)
    assert rows.tolist() == [0, 1, 3, 4] and values.tolist() == [1.0] * 4
    old = hy.repeat_indicator(sorted(index[i] for i in ns.profile_sources(p, ns.INTERACTIONS)), 7)
    assert np.array_equal(rt.repeat_vector(rows, values, 7), old)


def test_own_rows_vector_and_sparse_lookup() -> None:
    rows, values = rt.own_rows({"b": 2.0, "z": 5.0, "a": 0.5}, {"a": 3, "b": 1})  # z unknown
    assert rows.tolist() == [1, 3] and values.tolist() == [2.0, 0.5]
    assert rt.repeat_vector(rows, values, 5).tolist() == [0.0, 2.0, 0.0, 0.5, 0.0]
    assert rt.repeat_vector(rows, values, 2).tolist() == [0.0, 2.0]  # rows past the end ignored
    assert rt.own_values_at((rows, values), np.array([3, 0, 1, 4])).tolist() == [0.5, 0.0, 2.0, 0.0]
    assert rt.own_values_at((rows[:0], values[:0]), np.array([1])).tolist() == [0.0]
    with pytest.raises(ValueError, match="differ"):
        rt.repeat_vector(rows, values[:1], 5)


def test_manifest_fields_round_trip_and_older_bundles_read_as_the_indicator() -> None:
    base = {"neighbour_weight": 0.0, "trend_weight": 0.2, "neighbour_source": "interactions",
            "repeat_weight": 4.0}
    assert hy.weights_from_manifest({hy.MANIFEST_KEY: base}).repeat_shape == rt.INDICATOR
    shape = rt.RepeatShape(True, 1.0, 4.0)
    assert shape.manifest_fields() == {"repeat_half_life_days": 1.0, "repeat_engaged_weight": 4.0}
    assert rt.INDICATOR.manifest_fields() == {}
    got = hy.weights_from_manifest({hy.MANIFEST_KEY: {**base, **shape.manifest_fields()}})
    assert got == hy.HybridWeights(0.0, 0.2, ns.INTERACTIONS, 4.0, shape)
    for bad in ({"repeat_half_life_days": -1.0}, {"repeat_half_life_days": float("inf")},
                {"repeat_half_life_days": 1.0, "repeat_engaged_weight": 0.0}):
        with pytest.raises(ValueError, match="hybrid.repeat_"):
            hy.weights_from_manifest({hy.MANIFEST_KEY: {**base, **bad}})


def test_the_training_grid_searches_the_shapes_with_each_repeat_weight() -> None:
    from offline.model.grid_search import grid_points
    from offline.model.repeat_grid import repeat_shapes
    from offline.train_config import HybridConfig

    shapes = repeat_shapes(HybridConfig(repeat_half_life_grid=(1.0, 0.0), repeat_engaged_grid=(4.0, 1.0)))
    assert [(s.half_life_days, s.engaged_weight) for s in shapes] == [(0, 1), (0, 4), (1, 1), (1, 4)]
    points = grid_points([0.0], [0.0, 0.5], [0.0, 2.0], ns.INTERACTIONS, shapes)
    # per trend weight: the zero repeat weight once (as the indicator), then 2.0 with each shape
    assert len(points) == 2 * (1 + 4)
    assert [w.repeat_shape for w in points if w.repeat == 0] == [rt.INDICATOR, rt.INDICATOR]
    with pytest.raises(ValueError, match="repeat_engaged_grid"):
        HybridConfig(repeat_engaged_grid=(0.0,))
    with pytest.raises(ValueError, match="repeat_half_life_grid"):
        HybridConfig(repeat_half_life_grid=(-1.0,))
