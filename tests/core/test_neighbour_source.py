"""The hybrid's neighbour sources (fulcrum/core/neighbour_source.py): hand-worked selection under
both sources, the manifest field, and the positive-behaviour rule shared with offline's
evaluation protocol."""

from __future__ import annotations

import pytest

from fulcrum.core import hybrid as hy
from fulcrum.core import neighbour_source as ns
from fulcrum.core.profile import UserProfile
from fulcrum.core.schema import BEHAVIOUR_TYPES


def _profile() -> UserProfile:
    # bought a long ago (outside the recent sequence) and d; the sequence, oldest first:
    # viewed b, cancelled c, carted d, bought d, disliked e, clicked b again
    return UserProfile(
        "u",
        recent_items=("b", "c", "d", "d", "e", "b"),
        recent_types=("VIEW", "CANCEL", "ADD_TO_CART", "PURCHASE", "DISLIKE", "CLICK"),
        recent_times=(1.0, 2.0, 3.0, 4.0, 5.0, 6.0),
        bought=frozenset({"a", "d"}),
    )


def test_interactions_source_is_bought_plus_recent_positive_items() -> None:
    # bought {a, d} + positive recent {b (view, click), d (cart, purchase)}; c (cancel) and
    # e (dislike) are negative behaviours, so not sources
    assert ns.profile_sources(_profile(), ns.INTERACTIONS) == {"a", "b", "d"}


def test_purchases_source_is_the_bought_set_itself() -> None:
    p = _profile()
    assert ns.profile_sources(p, ns.PURCHASES) is p.bought  # the very object: nothing recomputed
    # a user who only looked at items: no purchase source, interaction sources from the views
    viewer = UserProfile("v", recent_items=("x", "y"), recent_types=("VIEW", "VIEW"), recent_times=(1.0, 2.0))
    assert ns.profile_sources(viewer, ns.PURCHASES) == frozenset()
    assert ns.profile_sources(viewer, ns.INTERACTIONS) == {"x", "y"}


def test_unknown_source_fails_naming_the_field() -> None:
    with pytest.raises(ValueError, match="hybrid.neighbour_source"):
        ns.profile_sources(_profile(), "views")
    with pytest.raises(ValueError, match="hybrid.neighbour_source"):
        hy.HybridWeights(0.5, 0.1, "everything")


def test_manifest_records_the_source_and_older_bundles_read_as_purchases() -> None:
    base = {"neighbour_weight": 0.5, "trend_weight": 0.1}
    assert hy.weights_from_manifest({hy.MANIFEST_KEY: base}).neighbour_source == ns.PURCHASES
    got = hy.weights_from_manifest({hy.MANIFEST_KEY: {**base, "neighbour_source": "interactions"}})
    assert got == hy.HybridWeights(0.5, 0.1, ns.INTERACTIONS)
    with pytest.raises(ValueError, match="hybrid.neighbour_source"):
        hy.weights_from_manifest({hy.MANIFEST_KEY: {**base, "neighbour_source": 3}})


def test_positive_types_are_the_evaluation_protocols() -> None:
    from offline.eval.protocol import NOT_POSITIVE

    assert ns.POSITIVE_TYPES == frozenset(BEHAVIOUR_TYPES) - NOT_POSITIVE
