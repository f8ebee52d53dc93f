"""Pure feature rules, hand-worked: the user/item folds, window counts, caps, row round trips,
the batch tables and the online merge of Events (no Feast, no I/O)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from fulcrum.core import feature_names as fn
from fulcrum.core.events import Event
from fulcrum.core.item_state import (
    ItemEvent,
    ItemState,
    fold_item_events,
    item_state_from_row,
    item_state_to_row,
)
from fulcrum.core.schema import EventType
from fulcrum.core.user_state import (
    DEFAULT_SET_MAX,
    BehaviourEvent,
    UserState,
    fold_user_events,
    user_profile,
    user_state_from_row,
    user_state_to_row,
    window_counts,
)
from offline.features.batch import item_snapshots, popularity_ranks, user_snapshots
from online.features import merge

DAY = 86_400.0
T0 = 1_300_000_000.0 - (1_300_000_000.0 % DAY)  # midnight UTC of day 15046 (2011-03-13)


def B(item, type_, day, sec=0.0):
    return BehaviourEvent(item, type_, T0 + day * DAY + sec)


def test_fold_counts_sets_recent_and_last_active():
    s = fold_user_events(
        UserState(),
        [
            B("a", "VIEW", 0, 10),
            B("a", "PURCHASE", 0, 20),
            B("b", "PURCHASE", 0, 20),
            B("a", "CANCEL", 1),
            B("c", "DISLIKE", 2),
            B("d", "IMPRESSION", 3),
        ],
    )
    assert dict(s.counts_all) == {"VIEW": 1, "PURCHASE": 2, "CANCEL": 1, "DISLIKE": 1, "IMPRESSION": 1}
    assert s.bought == {"a", "b"} and s.cancelled == {"a"} and s.disliked == {"c"}
    # the impression on day 3 moves as_of but is not activity and not in the sequence
    assert s.as_of == T0 + 3 * DAY
    assert s.last_active == T0 + 2 * DAY
    assert [r[0] for r in s.recent] == ["a", "a", "b", "a", "c"]
    assert [r[1] for r in s.recent] == ["VIEW", "PURCHASE", "PURCHASE", "CANCEL", "DISLIKE"]
    assert dict(s.ignored) == {"d": 1}


def test_fold_is_pure_and_incremental_equals_all_at_once():
    evs = [B("a", "PURCHASE", 0), B("b", "CLICK", 1), B("a", "IMPRESSION", 2), B("c", "PURCHASE", 40)]
    empty = UserState()
    once = fold_user_events(empty, evs)
    step = fold_user_events(fold_user_events(empty, evs[:2]), evs[2:])
    assert once == step
    assert empty == UserState()  # not mutated


def test_window_counts_calendar_days_anchored_at_as_of():
    # purchases on days 0, 20, 25, 31 and 31; as_of = day 31.
    # 7d window = days 25..31 -> 3 (day 25 and the two on day 31)
    # 30d window = days 2..31 -> 4 (day 0 is 31 days back, outside)
    s = fold_user_events(
        UserState(), [B(x, "PURCHASE", d) for x, d in [("a", 0), ("b", 20), ("c", 25), ("d", 31), ("e", 31)]]
    )
    c = window_counts(s)
    assert c["purchase_count_7d"] == 3
    assert c["purchase_count_30d"] == 4
    assert c["purchase_count_all"] == 5
    assert c["view_count_all"] == 0
    # buckets older than 30 days are dropped from the state (day 0 is gone, day 2+ kept)
    assert min(s.daily) == int(T0 // DAY) + 20


def test_recent_sequence_capped_and_late_events_sorted():
    evs = [B(f"i{k}", "VIEW", 0, k) for k in range(fn.RECENT_MAX + 5)]
    s = fold_user_events(UserState(), evs)
    assert len(s.recent) == fn.RECENT_MAX
    assert s.recent[0][0] == "i5" and s.recent[-1][0] == f"i{fn.RECENT_MAX + 4}"
    # a late event (earlier than the newest kept one) lands in time order
    s2 = fold_user_events(s, [B("late", "CLICK", 0, 30.5)])
    names = [r[0] for r in s2.recent]
    assert names.index("late") == names.index("i30") + 1
    assert [r[2] for r in s2.recent] == sorted(r[2] for r in s2.recent)


def test_ignored_counts_reset_by_engagement_and_capped():
    s = fold_user_events(
        UserState(),
        [
            B("x", "IMPRESSION", 0, 1),
            B("x", "IMPRESSION", 0, 2),
            B("y", "IMPRESSION", 0, 3),
            B("y", "CLICK", 0, 4),
            B("x", "VIEW", 0, 5),  # a view does not count as engagement
        ],
    )
    assert dict(s.ignored) == {"x": 2} and dict(s.ignored_at) == {"x": B("x", "IMPRESSION", 0, 2).ts}
    # the cap keeps the newest impressions (tests/core/test_user_set_caps.py): x (at 2 s) goes first
    many = [B(f"m{k}", "IMPRESSION", 1, k) for k in range(DEFAULT_SET_MAX)]
    s2 = fold_user_events(s, many)
    assert len(s2.ignored) == DEFAULT_SET_MAX and "x" not in s2.ignored


def test_unknown_type_is_rejected():
    with pytest.raises(ValueError, match="event_type 'ITEM_UPSERT'"):
        fold_user_events(UserState(), [B("a", "ITEM_UPSERT", 0)])


def test_user_row_round_trip_and_profile():
    s = fold_user_events(UserState(), [B("a", "PURCHASE", 0), B("b", "CANCEL", 1), B("c", "IMPRESSION", 2)])
    row = user_state_to_row(s)
    assert row["purchase_count_all"] == 1 and row["cancel_count_7d"] == 1
    assert row[fn.BOUGHT] == ["a"] and row[fn.RECENT_ITEMS] == ["a", "b"]
    assert row[fn.BOUGHT_TIMES] == [T0]
    assert json.loads(row[fn.IGNORED]) == {"c": [1, T0 + 2 * DAY]}  # count, newest impression
    # list features come back from parquet as numpy arrays
    back = user_state_from_row({k: (np.array(v) if isinstance(v, list) else v) for k, v in row.items()})
    assert back == s
    p = user_profile("u", s)
    assert p.purchase_count == 1.0 and p.cancel_count == 1.0 and p.distinct_items == 1.0
    assert p.recent_items == ("a", "b") and p.last_active == T0 + DAY and not p.is_cold
    # an absent row (Feast returns None everywhere) is an empty state, not invented values
    assert user_state_from_row({f: None for f in fn.USER_BEHAVIOUR_FEATURES}) == UserState()
    assert math.isnan(user_state_to_row(UserState())[fn.AS_OF])


def test_item_fold_counts_price_first_seen():
    s = fold_item_events(
        ItemState(popularity_rank=7),
        [
            ItemEvent("ITEM_UPSERT", T0 + 5, 2.0),
            ItemEvent("PURCHASE", T0 + 10, 2.5),
            ItemEvent("PURCHASE", T0 + 20, 0.0),  # no price: keeps 2.5
            ItemEvent("CANCEL", T0 + 30, 9.0),  # cancels do not set the price
            ItemEvent("IMPRESSION", T0 + 1, 0.0),
            ItemEvent("CLICK", T0 + 40, 0.0),
        ],
    )
    assert (s.purchases, s.cancels, s.impressions, s.clicks) == (2, 1, 1, 1)
    assert s.price == 2.5 and s.first_seen == T0 + 1 and s.as_of == T0 + 40
    assert s.cancel_rate == pytest.approx(1 / 3)  # 1 cancel / (2 purchases + 1 cancel)
    assert s.popularity_rank == 7  # only the batch job ranks
    assert item_state_from_row(item_state_to_row(s)) == s
    assert item_state_from_row({f: None for f in fn.ITEM_STATS_FEATURES}) == ItemState()


def test_popularity_ranks_ties_by_column_and_zero_unranked():
    counts = np.array([[0, 3, 3, 1], [5, 3, 3, 0]])
    # day 0: columns 1 and 2 tie at 3 -> 1, 2 (column order); column 3 -> 3; column 0 has none -> 0
    # day 1: 5 -> 1, then the two 3s -> 2, 3; column 3 has 0 -> 0
    assert popularity_ranks(counts).tolist() == [[0, 1, 2, 3], [1, 2, 3, 0]]


def _events_frame(rows):
    return pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(len(rows))],
            "user_id": [r[0] for r in rows],
            "item_id": [r[1] for r in rows],
            "event_type": [r[2] for r in rows],
            "quantity": 1.0,
            "price": [r[4] for r in rows],
            "timestamp": pd.to_datetime([T0 + r[3] for r in rows], unit="s", utc=True),
            "session_id": "s",
            "split": "train",
        }
    )


ROWS = [  # user, item, type, seconds after T0, price
    ("u1", "A", "PURCHASE", 100, 2.0),
    ("u1", "B", "PURCHASE", 100, 3.0),
    ("u2", "A", "PURCHASE", 200, 2.2),
    ("u1", "A", "CANCEL", DAY + 5, 2.0),
    ("u2", "C", "IMPRESSION", 2 * DAY, 0.0),
    ("u2", "C", "CLICK", 2 * DAY + 1, 0.0),
    ("u1", "C", "PURCHASE", 9 * DAY, 4.0),
]


def test_user_snapshots_one_row_per_user_and_instant():
    snaps = user_snapshots(_events_frame(ROWS))
    # u1 has 3 instants (100 s, day 1, day 9), u2 has 3 (200 s, day 2, day 2 + 1 s)
    assert snaps.groupby(fn.USER_KEY).size().to_dict() == {"u1": 3, "u2": 3}
    u1 = snaps[snaps[fn.USER_KEY] == "u1"].reset_index(drop=True)
    assert u1[fn.EVENT_TS].tolist() == list(
        pd.to_datetime([T0 + 100, T0 + DAY + 5, T0 + 9 * DAY], unit="s", utc=True)
    )
    assert u1["purchase_count_all"].tolist() == [2, 2, 3]
    assert u1["purchase_count_7d"].tolist() == [2, 2, 1]  # day 9: days 3..9 hold only item C
    assert list(u1.loc[0, fn.BOUGHT]) == ["A", "B"] and list(u1.loc[2, fn.BOUGHT]) == ["A", "B", "C"]
    assert list(u1.loc[2, fn.RECENT_ITEMS]) == ["A", "B", "A", "C"]
    u2_last = snaps[snaps[fn.USER_KEY] == "u2"].iloc[-1]
    assert json.loads(u2_last[fn.IGNORED]) == {}  # the click cancelled the impression


def test_item_snapshots_match_the_fold():
    ev = _events_frame(ROWS)
    snaps = item_snapshots(ev)
    last = snaps.groupby(fn.ITEM_KEY).tail(1).set_index(fn.ITEM_KEY)
    for item in ("A", "B", "C"):
        sub = ev[ev.item_id == item]
        folded = fold_item_events(
            ItemState(),
            [
                ItemEvent(t, ts.timestamp(), p)
                for t, ts, p in zip(sub.event_type, sub.timestamp, sub.price, strict=True)
            ],
        )
        row = last.loc[item]
        assert row[fn.ITEM_PURCHASES] == folded.purchases
        assert row[fn.ITEM_CANCELS] == folded.cancels
        assert row[fn.ITEM_IMPRESSIONS] == folded.impressions and row[fn.ITEM_CLICKS] == folded.clicks
        assert row[fn.ITEM_PRICE] == pytest.approx(folded.price)
        assert row[fn.ITEM_FIRST_SEEN] == pytest.approx(folded.first_seen)
        assert row[fn.ITEM_CANCEL_RATE] == pytest.approx(folded.cancel_rate)
    # A: day 0 purchases by u1 and u2 -> 2, B: 1 -> ranks A=1, B=2 at the end of day 0
    day0 = snaps[
        snaps[fn.EVENT_TS] == pd.Timestamp(int(T0 + DAY) * 10**9 - 1000, unit="ns", tz="UTC")
    ].set_index(fn.ITEM_KEY)
    assert day0[fn.ITEM_POPULARITY_RANK].to_dict() == {"A": 1, "B": 2}
    # last rows: A on day 1 (A=2, B=1 -> A 1), B on day 0 (-> 2), C on day 9 (A=2, B=1, C=1: the
    # B/C tie goes to B, sorted first -> C 3)
    assert last[fn.ITEM_POPULARITY_RANK].to_dict() == {"A": 1, "B": 2, "C": 3}
    # rows are stamped at the end of their day: nothing later that day can leak into them
    assert (snaps[fn.EVENT_TS].dt.hour == 23).all()


def test_items_table_counts_as_an_upsert():
    ev = _events_frame(ROWS[:1])
    items = pd.DataFrame(
        {
            "item_id": ["A", "Z"],
            "text": ["a", "z"],
            "price": [1.5, 9.0],
            "first_seen": pd.to_datetime([T0 + 50, T0 + 60], unit="s", utc=True),
        }
    )
    last = item_snapshots(ev, items).groupby(fn.ITEM_KEY).tail(1).set_index(fn.ITEM_KEY)
    assert last.loc["A", fn.ITEM_PRICE] == 2.0  # the purchase at 100 s is newer than the upsert at 50 s
    assert last.loc["A", fn.ITEM_FIRST_SEEN] == T0 + 50
    assert last.loc["Z", fn.ITEM_PURCHASES] == 0 and last.loc["Z", fn.ITEM_PRICE] == 9.0
    assert last.loc["Z", fn.ITEM_POPULARITY_RANK] == 0


def E(eid, type_, user, item, sec, price=0.0, text=""):
    return Event(eid, EventType(type_), user, item, 1.0, price, int((T0 + sec) * 1000), "s", text)


def test_online_merge_equals_offline_fold():
    batch = [
        E("1", "PURCHASE", "u1", "A", 10, 2.0),
        E("2", "IMPRESSION", "u1", "B", 11),
        E("3", "ITEM_UPSERT", "", "N", 12, 5.0, "new thing"),
        E("4", "CLICK", "u2", "N", 13),
    ]
    grouped = merge.user_events(batch)
    assert set(grouped) == {"u1", "u2"}  # the upsert has no user
    start = {"u1": fold_user_events(UserState(), [B("Z", "PURCHASE", 0, 1)])}
    new = merge.merge_users(start, grouped)
    assert new["u1"].bought == {"Z", "A"} and dict(new["u1"].ignored) == {"B": 1}
    assert new["u2"] == fold_user_events(UserState(), [B("N", "CLICK", 0, 13)])
    items = merge.merge_items({}, merge.item_events(batch))
    assert items["N"].price == 5.0 and items["N"].clicks == 1 and items["N"].first_seen == T0 + 12
    assert merge.item_upserts(batch) == {"N": "new thing"}
    frame = merge.user_push_frame(new)
    assert list(frame.columns[:2]) == [fn.USER_KEY, fn.EVENT_TS]
    assert frame.set_index(fn.USER_KEY).loc["u1", fn.EVENT_TS] == pd.Timestamp(T0 + 11, unit="s", tz="UTC")
    emb = merge.item_embedding_frame({"N": "new thing"}, np.ones((1, 3)), {"N": T0 + 12})
    assert emb.loc[0, fn.ITEM_EMBEDDING] == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="shape"):
        merge.item_embedding_frame({"N": "x"}, np.ones((2, 3)), {"N": 0.0})


def test_rows_by_key_drops_all_none_rows():
    cols = {"user_id": ["a", "b"], "x": [1, None], "y": ["s", None]}
    assert merge.rows_by_key(cols, "user_id", ["x", "y"]) == {"a": {"x": 1, "y": "s"}}
