"""Purchase-given-interaction rows: labels, horizon, context features, shapes (hand-worked)."""

from __future__ import annotations

import numpy as np
import pytest

from fulcrum.core import schema as S
from fulcrum.core.rank_features import N_RANK_FEATURES
from offline.ranking.interaction_rows import (
    INTERACTION_FEATURES,
    build_interaction_rows,
    context_features,
    interaction_label_rows,
)
from offline.ranking.labels import epoch_seconds
from tests.ranking_synthetic import make_events, make_items

V, C, P = S.EventType.VIEW.value, S.EventType.ADD_TO_CART.value, S.EventType.PURCHASE.value
H = 1 / 24  # one hour in days
EVENTS = make_events([
    ("u", "a", V, 0.0),
    ("u", "b", V, 0.5 * H),
    ("u", "a", C, 1 * H),
    ("u", "a", P, 2 * H),
    ("u", "a", V, 30 * H),
    ("v", "a", V, 10 * H),
    ("v", "a", P, 40 * H),  # 30 h after v's view: outside a one-day window
])
ITEMS = make_items(["a", "b"])
T0S = float(epoch_seconds(EVENTS[S.TIMESTAMP].iloc[:1])[0])
INF = np.inf


def _labels(rows) -> dict:
    return {(r.user_id, r.item_id, round((r.ts - T0S) / 3600), r.event_type): int(r.purchase)
            for r in rows.itertuples()}


def test_labels_within_the_window_and_after_the_interaction():
    rows = interaction_label_rows(EVENTS, ITEMS, -INF, INF, INF, window_days=1.0)
    # u's view and cart of a precede the purchase 2 h and 1 h later -> 1; u's view of b and the
    # re-view of a at 30 h (after the purchase) -> 0; v bought 30 h after viewing -> 0 (> 1 day)
    assert _labels(rows) == {
        ("u", "a", 0, V): 1, ("u", "b", 0, V): 0, ("u", "a", 1, C): 1, ("u", "a", 30, V): 0,
        ("v", "a", 10, V): 0,
    }
    assert (rows["cancel"] == -1).all()
    # a two-day window reaches v's purchase
    assert _labels(interaction_label_rows(EVENTS, ITEMS, -INF, INF, INF, 2.0))[("v", "a", 10, V)] == 1


def test_horizon_hides_purchases_past_the_slice():
    # the purchase at 2 h lies past a 1.5 h horizon: nothing the slice may not see labels its rows
    rows = interaction_label_rows(EVENTS, ITEMS, -INF, INF, T0S + 1.5 * 3600, 1.0)
    assert int(rows["purchase"].sum()) == 0


def test_slice_window_selects_rows_by_time():
    rows = interaction_label_rows(EVENTS, ITEMS, T0S + 0.75 * 3600, T0S + 20 * 3600, INF, 1.0)
    assert sorted(_labels(rows)) == [("u", "a", 1, C), ("v", "a", 10, V)]


def test_context_features_count_only_earlier_interactions():
    rows = interaction_label_rows(EVENTS, ITEMS, -INF, INF, INF, 1.0)
    f = context_features(rows)
    assert f.shape == (5, len(INTERACTION_FEATURES))
    by_key = {k: f[i] for i, k in enumerate(_labels(rows))}
    # u's cart of a at 1 h: one earlier interaction (the view), nothing carted before
    np.testing.assert_allclose(by_key[("u", "a", 1, C)], [0, 0, 1, np.log1p(1), 0])
    # u's view of a at 30 h: the view and the cart before it, carted before
    np.testing.assert_allclose(by_key[("u", "a", 30, V)], [1, 0, 0, np.log1p(2), 1])
    np.testing.assert_allclose(by_key[("u", "a", 0, V)], [1, 0, 0, 0, 0])


def test_build_rows_has_the_head_features_then_the_context():
    rows = build_interaction_rows(EVENTS, ITEMS, -INF, INF, INF, 1.0)
    assert rows.x.shape == (5, N_RANK_FEATURES + len(INTERACTION_FEATURES))
    assert int(rows.purchase.sum()) == 2
    empty = build_interaction_rows(EVENTS, ITEMS, T0S + 1e6, INF, INF, 1.0)
    assert empty.x.shape == (0, N_RANK_FEATURES + len(INTERACTION_FEATURES))


def test_leave_last_out_is_refused():
    from offline.data.errors import DataError
    from offline.data.split import LEAVE_LAST_OUT
    from offline.ranking.config import RankerConfig
    from offline.ranking.slices import build_interaction_slices
    from tests.multibehaviour_synthetic import multibehaviour_prepared

    data = multibehaviour_prepared()
    data = type(data)(data.events, data.items, type(data.split)(protocol="x", kind=LEAVE_LAST_OUT))
    with pytest.raises(DataError, match="needs a time split"):
        build_interaction_slices(data, RankerConfig())
