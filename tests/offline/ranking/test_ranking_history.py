"""Point-in-time features: only history strictly before each row's time reaches rank_features."""

import math

import numpy as np
import pandas as pd
import pytest

from fulcrum.core import schema as S
from fulcrum.core.rank_features import RANK_FEATURES
from offline.ranking.history import build_rank_rows
from offline.ranking.labels import DAY_S
from tests.ranking_synthetic import T0, make_events, make_items

P, C = S.EventType.PURCHASE.value, S.EventType.CANCEL.value
F = {name: i for i, name in enumerate(RANK_FEATURES)}


def _rows(spec):
    """spec: (user, item, day, purchase, cancel), already sorted by user then day."""
    return pd.DataFrame(
        {
            "user_id": [s[0] for s in spec],
            "item_id": [s[1] for s in spec],
            "ts": [T0.timestamp() + s[2] * DAY_S for s in spec],
            "purchase": np.array([s[3] for s in spec], np.int8),
            "cancel": np.array([s[4] for s in spec], np.int8),
        }
    )


def test_features_see_only_the_past_hand_worked():
    ev = make_events(
        [
            ("u1", "A", P, 1.0),
            ("u1", "B", P, 1.0),
            ("u1", "A", C, 3.0),
            ("u2", "A", P, 2.0),
            ("u1", "A", P, 50.0),  # the row being labelled: must not see itself
            ("u2", "B", P, 50.2),  # same day as the row: not yet in the daily item stats
        ]
    )
    items = make_items(["A", "B"])
    rows = _rows(
        [("u1", "A", 1.0, 1, 1), ("u1", "B", 1.0, 1, 0), ("u1", "A", 50.0, 1, 0), ("u1", "B", 50.0, 0, -1)]
    )
    out = build_rank_rows(ev, items, rows)
    x = out.x
    # day 1: u1 has no past at all -> cold, user columns 0; items have no purchases before day 1
    assert out.user_cold.tolist() == [True, True, False, False]
    assert x[0, F["log_user_purchases"]] == 0 and x[0, F["user_bought_item"]] == 0
    assert x[0, F["log_item_purchases"]] == 0
    # day 50: before it u1 bought A and B (2 purchases) and cancelled A (1 cancel), 2 distinct items
    assert x[2, F["log_user_purchases"]] == pytest.approx(math.log(3))
    assert x[2, F["log_user_cancels"]] == pytest.approx(math.log(2))
    assert x[2, F["user_cancel_rate"]] == pytest.approx(1 / (2 + 1 + 1))
    assert x[2, F["log_user_distinct_items"]] == pytest.approx(math.log(3))
    # last activity day 3 -> 47 days inactive
    assert x[2, F["log_user_days_inactive"]] == pytest.approx(math.log1p(47.0), abs=1e-5)
    assert x[2, [F["user_bought_item"], F["user_cancelled_item"]]].tolist() == [1.0, 1.0]  # A
    assert x[3, [F["user_bought_item"], F["user_cancelled_item"]]].tolist() == [1.0, 0.0]  # B
    # item A before day 50: 2 purchases (u1, u2), 1 cancel -> log 3, cancel rate 1 / (2 + 1)
    # (cancels / (purchases + 1), the bundle's items-table definition)
    assert x[2, F["log_item_purchases"]] == pytest.approx(math.log(3))
    assert x[2, F["item_cancel_rate"]] == pytest.approx(1 / 3)
    # item B: 1 purchase before day 50 (u2's day-50.2 purchase is not), no cancel
    assert x[3, F["log_item_purchases"]] == pytest.approx(math.log(2))
    # popularity: A (2) ranks 0 -> 1 - 0/2 = 1; B ranks 1 -> 0.5
    assert x[2, F["item_popularity_pct"]] == pytest.approx(1.0)
    assert x[3, F["item_popularity_pct"]] == pytest.approx(0.5)
    # no scorer: the retrieval score column is 0; labels pass through
    assert (x[:, F["retrieval_score"]] == 0).all()
    assert out.purchase.tolist() == [1, 1, 1, 0] and out.cancel.tolist() == [1, 0, 0, -1]


def test_score_fn_receives_point_in_time_profiles():
    ev = make_events([("u1", "A", P, 1.0), ("u1", "B", P, 5.0)])
    items = make_items(["A", "B"])
    rows = _rows([("u1", "B", 5.0, 1, 0), ("u1", "A", 5.0, 0, -1)])
    seen = []

    def score_fn(profiles, item_lists):
        seen.extend((p.recent_items, tuple(i)) for p, i in zip(profiles, item_lists, strict=True))
        return [np.arange(len(i), dtype=float) + 0.5 for i in item_lists]

    out = build_rank_rows(ev, items, rows, score_fn=score_fn)
    assert seen == [(("A",), ("B", "A"))]  # B (bought at day 5) is not in the profile yet
    assert out.x[:, F["retrieval_score"]].tolist() == [0.5, 1.5]
