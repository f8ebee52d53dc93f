"""Training's validation protocol (offline/model/validation_protocol.py, offline/model/holdout.py):
chosen from the data, scored with offline.eval.protocol's rules, loud when it has no target."""

from __future__ import annotations

import numpy as np
import pytest

from fulcrum.core.schema import EVENT_TYPE_CODE
from offline.model.holdout import DiscoverySlice
from offline.model.validation_protocol import (
    PURCHASES,
    ValidationProtocol,
    choose_protocol,
    no_targets_error,
)
from tests.offline.model.test_examples_scale import _inter

P, V, C, X = (EVENT_TYPE_CODE[t] for t in ("PURCHASE", "VIEW", "ADD_TO_CART", "CANCEL"))
DAY = 86_400.0
INTERACTIONS = ValidationProtocol("interactions", "test")


def _shop():
    """Cut at day 5. u0 viewed i0 and i1, carted i2 (no purchase), then buys i0 and i3 after the
    cut. u1 bought i1 and viewed i2, then buys i1 again and i2 after the cut. u2 only viewed i4
    before the cut and buys nothing after it."""
    users = [
        (np.array([0, 1, 2, 0, 3]), np.array([V, V, C, P, P]), np.array([1, 2, 3, 6, 7]) * DAY),
        (np.array([1, 2, 1, 2]), np.array([P, V, P, P]), np.array([1, 2, 6, 7]) * DAY),
        (np.array([4]), np.array([V]), np.array([1]) * DAY),
    ]
    inter = _inter(users, n_items=6)
    after = (inter.ev_time >= 5 * DAY) & (inter.ev_type == P)
    return inter, (inter.ev_user[after], inter.ev_item[after])


def test_auto_picks_interactions_on_a_multi_behaviour_shop_and_purchases_otherwise() -> None:
    inter, _ = _shop()
    vp = choose_protocol(inter, "auto")
    assert vp.history == "interactions" and vp.repeat_allowed
    assert "VIEW 4" in vp.reason and "ADD_TO_CART 1" in vp.reason  # counted, said
    # a purchase log with cancellations: a cancellation is not a positive behaviour
    log = _inter([(np.array([0, 0, 1]), np.array([P, X, P]), np.array([1, 2, 3]) * DAY)], n_items=2)
    assert choose_protocol(log, "auto").history == "purchases"
    assert not choose_protocol(log, "auto").repeat_allowed
    # the config overrides the data
    assert choose_protocol(inter, "purchases").history == "purchases"
    assert choose_protocol(log, "interactions").history == "interactions"
    with pytest.raises(ValueError, match="validation_protocol"):
        choose_protocol(inter, "views")


def test_interactions_slice_scores_viewers_on_every_later_purchase() -> None:
    inter, pairs = _shop()
    sl = DiscoverySlice.build(inter, 5 * DAY, pairs, t_len=10, protocol=INTERACTIONS)
    # u0 (row 0) has a positive history (views, a cart) and targets i0, i3 -- i0 although viewed;
    # u1 (row 1) gets i1 (bought before: repeat-allowed) and i2; u2 has no target
    assert sl.warm == [0, 1]
    assert sl.targets == [{0, 3}, {1, 2}]
    assert sl.excluded == [set(), set()]  # nothing is excluded
    # the neighbour sources: purchases plus the recent positive items (serving's profile rule,
    # fulcrum/core/neighbour_source.py): u0 viewed i0, i1 and carted i2 (bought nothing);
    # u1 bought i1 and viewed i2; nothing after the cut counts
    assert sl.bought == [{0, 1, 2}, {1, 2}]
    # pool: items with a positive behaviour before the cut (i0, i1, i2, i4; not i3, i5)
    assert sl.seen.tolist() == [True, True, True, False, True, False]
    # the user tower sees every event before the cut: u0's three, u1's two
    assert sl.hist[3].sum(axis=1).tolist() == [3.0, 2.0]


def test_purchases_slice_is_the_discovery_protocol() -> None:
    inter, pairs = _shop()
    sl = DiscoverySlice.build(inter, 5 * DAY, pairs, t_len=10, protocol=PURCHASES)
    # only u1 bought before the cut; i1 is not new to them, so the target is i2 alone
    assert sl.warm == [1]
    assert sl.targets == [{2}]
    assert sl.excluded == [{1}]
    assert sl.bought == [{1}]  # neighbour sources: the purchases only (u1's view of i2 is not one)
    assert sl.seen.tolist() == [False, True, False, False, False, False]  # bought before the cut


def test_a_protocol_without_targets_names_cause_and_fix() -> None:
    inter, pairs = _shop()
    keep = pairs[0] == 0  # only u0's purchases: u0 never bought before the cut
    sl = DiscoverySlice.build(inter, 5 * DAY, (pairs[0][keep], pairs[1][keep]), t_len=10, protocol=PURCHASES)
    assert sl.warm == []
    err = no_targets_error(PURCHASES, 2, 2.0, "time")
    line = str(err)
    assert "\n" not in line and line.startswith("validation: the purchases (discovery) protocol")
    assert "(fix: " in line and "retrieval.validation_protocol: interactions" in line


def test_training_histories_hold_what_serving_profiles_hold(tmp_path) -> None:
    """Impressions are not in serving's recent sequence (fulcrum.core.user_state), so they are not
    in training histories either; they still count in the item statistics."""
    import pandas as pd

    from fulcrum.core.user_state import BehaviourEvent, UserState, fold_user_events
    from offline.model.examples import user_histories
    from offline.model.interactions import item_stats, load_interactions

    kinds = ["IMPRESSION", "VIEW", "IMPRESSION", "ADD_TO_CART", "PURCHASE"]
    items = ["i0", "i1", "i2", "i1", "i1"]
    times = pd.to_datetime([f"2024-03-0{d}T10:00:00" for d in (1, 2, 3, 4, 5)], utc=True)
    pd.DataFrame({
        "event_id": [f"e{k}" for k in range(5)], "user_id": "u0", "item_id": items, "event_type": kinds,
        "quantity": 1.0, "price": 1.0, "timestamp": times, "session_id": "s", "split": "train",
    }).to_parquet(tmp_path / "events.parquet")
    pd.DataFrame({"item_id": ["i0", "i1", "i2"], "text": ["a", "b", "c"], "price": 1.0,
                  "first_seen": times[:3]}).to_parquet(tmp_path / "items.parquet")
    inter = load_interactions(tmp_path)
    _, (h_items, h_types, _, h_mask) = user_histories(inter, np.inf, 10)
    got = [(int(i), int(t)) for i, t, m in zip(h_items[0], h_types[0], h_mask[0], strict=True) if m]
    assert got == [(1, V), (1, C), (1, P)]  # VIEW, ADD_TO_CART, PURCHASE of i1; no impression
    state = fold_user_events(UserState(), [BehaviourEvent(i, k, t.timestamp())
                                           for i, t, k in zip(items, times, kinds, strict=True)])
    assert [(item, kind) for item, kind, _ in state.recent] == [("i1", "VIEW"), ("i1", "ADD_TO_CART"),
                                                                ("i1", "PURCHASE")]
    assert item_stats(inter)["impressions"].tolist() == [1.0, 0.0, 1.0]
