"""``history_for``: the user encoder's input, worked by hand on a four-item catalogue."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fulcrum.core.bundle.catalogue import Catalogue
from fulcrum.core.profile import UserProfile
from fulcrum.core.schema import EVENT_TYPE_CODE
from online.server.profiles import history_for

DAY = 86_400.0


def _catalogue() -> Catalogue:
    items = pd.DataFrame({"item_id": ["a", "b", "c", "d"], "text": ["", "", "", ""]})
    return Catalogue.from_frame(items, np.eye(4, dtype=np.float32))


def test_history_keeps_the_last_known_items_with_their_types_and_ages() -> None:
    now = 100 * DAY
    profile = UserProfile(
        user_id="u",
        # "zz" is not in the catalogue: dropped; "FUTURE" is no event type: coded as a VIEW
        recent_items=("a", "zz", "b", "c", "d"),
        recent_types=("PURCHASE", "CLICK", "ADD_TO_CART", "FUTURE", "VIEW"),
        recent_times=(now - 3 * DAY, now - 2 * DAY, now - 1.5 * DAY, now - 0.5 * DAY, now + 60.0),
    )
    h = history_for(profile, _catalogue(), now, max_length=3)
    # known items a, b, c, d -> the last three: b, c, d (rows 1, 2, 3 of the identity embeddings)
    assert h is not None
    np.testing.assert_array_equal(h.emb, np.eye(4, dtype=np.float32)[[1, 2, 3]])
    codes = EVENT_TYPE_CODE
    assert h.types.tolist() == [codes["ADD_TO_CART"], codes["VIEW"], codes["VIEW"]]
    # ages in days: 1.5, 0.5, and 0 for an event stamped after "now" (clamped)
    np.testing.assert_allclose(h.ages, [1.5, 0.5, 0.0])
    assert h.ages.dtype == np.float32 and h.types.dtype == np.int64


def test_no_known_item_is_no_history_and_missing_times_mean_now() -> None:
    cat = _catalogue()
    assert history_for(UserProfile(user_id="u", recent_items=("x", "y")), cat, 5.0, 10) is None
    assert history_for(UserProfile(user_id="u"), cat, 5.0, 10) is None
    # times and types of another length than the items (a session-only profile): now and VIEW
    h = history_for(UserProfile(user_id="u", recent_items=("c", "a")), cat, 5.0, 10)
    assert h is not None and h.ages.tolist() == [0.0, 0.0]
    assert h.types.tolist() == [EVENT_TYPE_CODE["VIEW"]] * 2
