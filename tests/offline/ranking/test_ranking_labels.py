"""Label rows of the ranking head: purchase positives, sampled negatives, cancellation labels."""

import numpy as np
import pytest

from fulcrum.core import schema as S
from offline.ranking.labels import DAY_S, cancel_labels, epoch_seconds, label_rows, positive_rows
from tests.ranking_synthetic import T0, make_events, make_items

P, C = S.EventType.PURCHASE.value, S.EventType.CANCEL.value
T0_S = T0.timestamp()


def _events():
    return make_events(
        [
            ("u1", "A", P, 1),
            ("u1", "A", C, 3),  # cancelled 2 days later -> 1
            ("u1", "B", P, 1),
            ("u1", "B", C, 40),  # 39 days later: outside a 30-day window -> 0
            ("u2", "A", P, 2),  # u1's cancellation of A is not u2's -> 0
            ("u2", "C", P, 5),
            ("u2", "C", C, 6),  # cancelled, but after the horizon (day 5.5) -> 0
            ("u3", "D", C, 11),
            ("u3", "D", P, 12),  # cancelled BEFORE buying -> 0
        ]
    )


def test_cancel_label_definition_hand_worked():
    ev = _events()
    pos = positive_rows(ev, -np.inf, np.inf)
    horizon = T0_S + 5.5 * DAY_S
    labels = cancel_labels(pos, ev, window_days=30, horizon=horizon)
    got = {(u, i): int(c) for u, i, c in zip(pos["user_id"], pos["item_id"], labels, strict=True)}
    assert got == {("u1", "A"): 1, ("u1", "B"): 0, ("u2", "A"): 0, ("u2", "C"): 0, ("u3", "D"): 0}
    # with an open horizon, the day-6 cancel of C counts, and a 40-day window catches B
    labels = cancel_labels(pos, ev, window_days=40, horizon=np.inf)
    got = {(u, i): int(c) for u, i, c in zip(pos["user_id"], pos["item_id"], labels, strict=True)}
    assert got == {("u1", "A"): 1, ("u1", "B"): 1, ("u2", "A"): 0, ("u2", "C"): 1, ("u3", "D"): 0}


def test_positive_rows_respect_the_window_and_collapse_duplicates():
    ev = make_events([("u1", "A", P, 1), ("u1", "A", P, 1), ("u1", "B", P, 4), ("u2", "A", C, 2)])
    pos = positive_rows(ev, T0_S, T0_S + 3 * DAY_S)
    assert list(zip(pos["user_id"], pos["item_id"], strict=True)) == [("u1", "A")]


def test_label_rows_negatives_are_available_and_not_bought_at_that_time():
    ev = _events()
    items = make_items(["A", "B", "C", "D", "E"], first_day={"D": 10.0, "E": 0.0})
    rows = label_rows(
        ev, items, -np.inf, np.inf, np.inf, neg_per_pos=4, window_days=30, rng=np.random.default_rng(0)
    )
    assert set(rows["purchase"]) == {0, 1}
    pos, neg = rows[rows["purchase"] == 1], rows[rows["purchase"] == 0]
    assert len(pos) == 5 and (neg["cancel"] == -1).all() and set(pos["cancel"]) <= {0, 1}
    first = dict(zip(items[S.ITEM_ID], epoch_seconds(items[S.FIRST_SEEN]), strict=True))
    # no negative item was unseen at the row's time (D appears on day 10)
    assert all(first[i] < t for i, t in zip(neg["item_id"], neg["ts"], strict=True))
    # no negative repeats an item the same user bought at that same time
    bought = set(zip(pos["user_id"], pos["item_id"], pos["ts"], strict=True))
    assert not bought & set(zip(neg["user_id"], neg["item_id"], neg["ts"], strict=True))
    # rows come sorted by user then time (build_rank_rows groups on that)
    keys = list(zip(rows["user_id"], rows["ts"], strict=True))
    assert keys == sorted(keys)


def test_cancel_labels_of_no_rows():
    ev = _events()
    assert cancel_labels(positive_rows(ev, 0, 1), ev, 30, np.inf).shape == (0,)
    with pytest.raises(KeyError):
        cancel_labels(ev[[S.USER_ID]], ev, 30, np.inf)
