"""The user encoder's input built from a profile (``online.server.profiles``), worked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fulcrum.core.bundle.catalogue import Catalogue
from fulcrum.core.profile import UserProfile
from fulcrum.core.schema import EVENT_TYPE_CODE
from online.server.profiles import history_for, with_session

DAY = 86_400.0
NOW = 1_000 * DAY


def _catalogue() -> Catalogue:
    items = pd.DataFrame({"item_id": ["a", "b", "c"]})
    emb = np.eye(3, dtype=np.float32)  # row r is the unit vector e_r: easy to recognise
    return Catalogue.from_frame(items, emb)


def test_history_keeps_the_last_known_items_with_types_and_ages():
    profile = UserProfile(
        user_id="u",
        recent_items=("a", "zz", "b", "c"),  # "zz" is not in the catalogue: dropped
        recent_types=("PURCHASE", "VIEW", "VIEW", "PURCHASE"),
        recent_times=(NOW - 3 * DAY, NOW - 2 * DAY, NOW - DAY, NOW + 5.0),
    )
    h = history_for(profile, _catalogue(), NOW, max_length=2)
    assert h is not None
    # known events a, b, c; the last two are b (row 1) and c (row 2), oldest first
    np.testing.assert_array_equal(h.emb, np.eye(3, dtype=np.float32)[[1, 2]])
    assert h.types.tolist() == [EVENT_TYPE_CODE["VIEW"], EVENT_TYPE_CODE["PURCHASE"]]
    # b is 1 day old; c is 5 s in the future, clamped to age 0
    np.testing.assert_allclose(h.ages, [1.0, 0.0])
    assert h.types.dtype == np.int64 and h.ages.dtype == np.float32


def test_history_without_usable_types_or_times_uses_views_now():
    # times/types of the wrong length are ignored: every event is a VIEW happening now
    profile = UserProfile(user_id="u", recent_items=("c", "a"), recent_types=("PURCHASE",), recent_times=())
    h = history_for(profile, _catalogue(), NOW, max_length=10)
    assert h is not None
    np.testing.assert_array_equal(h.emb, np.eye(3, dtype=np.float32)[[2, 0]])
    assert h.types.tolist() == [EVENT_TYPE_CODE["VIEW"]] * 2
    assert h.ages.tolist() == [0.0, 0.0]


def test_no_known_item_means_no_history():
    profile = UserProfile(user_id="u", recent_items=("x", "y"))
    assert history_for(profile, _catalogue(), NOW, max_length=5) is None


def test_session_items_become_the_newest_views():
    profile = UserProfile(
        user_id="u", recent_items=("a",), recent_types=("PURCHASE",), recent_times=(NOW - DAY,)
    )
    s = with_session(profile, ("b",), NOW)
    h = history_for(s, _catalogue(), NOW, max_length=5)
    assert h is not None
    assert s.recent_items == ("a", "b") and s.last_active == NOW
    assert h.types.tolist() == [EVENT_TYPE_CODE["PURCHASE"], EVENT_TYPE_CODE["VIEW"]]
    np.testing.assert_allclose(h.ages, [1.0, 0.0])
