"""The caps on a user's item sets (bought / cancelled / disliked / ignored keep the newest N),
hand-worked, and the same result whether the events are folded at once (the offline batch job)
or a few at a time (the stream): no skew between the two writers."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from fulcrum.core import feature_names as fn
from fulcrum.core import schema as S
from fulcrum.core.user_state import (
    DEFAULT_SET_MAX,
    ENV_SET_MAX,
    BehaviourEvent,
    UserCaps,
    UserState,
    caps_from_env,
    fold_user_events,
    user_profile,
    user_state_from_row,
    user_state_to_row,
)

N3 = UserCaps(set_max=3)


def ev(item: str, type_: str, ts: float) -> BehaviourEvent:
    return BehaviourEvent(item, type_, ts)


def test_five_purchases_keep_the_newest_three_in_time_order():
    # purchases at 1..5 s, given out of order: a@1 b@2 c@3 d@4 e@5 -> the newest three: c, d, e
    events = [ev("d", "PURCHASE", 4), ev("a", "PURCHASE", 1), ev("e", "PURCHASE", 5),
              ev("b", "PURCHASE", 2), ev("c", "PURCHASE", 3)]
    s = fold_user_events(UserState(), events, N3)
    assert dict(s.bought_at) == {"c": 3.0, "d": 4.0, "e": 5.0}
    row = user_state_to_row(s)
    assert row[fn.BOUGHT] == ["c", "d", "e"] and row[fn.BOUGHT_TIMES] == [3.0, 4.0, 5.0]  # oldest first
    # the counts are not capped: 5 purchases; distinct_items is what the row keeps
    assert row["purchase_count_all"] == 5 and user_profile("u", s).distinct_items == 3.0


def test_a_repurchase_makes_an_item_new_again():
    # a@1 b@2 c@3, then a again @4: a is the newest now, so d@5 pushes out b (the oldest), not a
    s = fold_user_events(UserState(), [ev("a", "PURCHASE", 1), ev("b", "PURCHASE", 2),
                                       ev("c", "PURCHASE", 3), ev("a", "PURCHASE", 4),
                                       ev("d", "PURCHASE", 5)], N3)
    assert user_state_to_row(s)[fn.BOUGHT] == ["c", "a", "d"]


def test_ties_are_broken_by_item_id_not_by_arrival():
    # four purchases at the same instant; the set keeps 3: the smallest id ("a") is the oldest
    for order in (["a", "b", "c", "d"], ["d", "c", "b", "a"], ["b", "d", "a", "c"]):
        s = fold_user_events(UserState(), [ev(i, "PURCHASE", 7) for i in order], N3)
        assert sorted(s.bought) == ["b", "c", "d"], order
        assert user_state_to_row(s)[fn.BOUGHT] == ["b", "c", "d"]


def test_disliked_and_cancelled_are_capped_alike():
    events = [ev(f"x{k}", t, k) for t in ("DISLIKE", "CANCEL") for k in range(5)]
    s = fold_user_events(UserState(), events, N3)
    assert sorted(s.disliked) == ["x2", "x3", "x4"] and sorted(s.cancelled) == ["x2", "x3", "x4"]


def test_ignored_keeps_the_newest_impressions_with_their_counts():
    # p seen at 1 and 6 (count 2, newest 6); q@2; r@3 then clicked @4 (gone); s@5; t@7
    # ignored before the cap: p(2, @6), q(1, @2), s(1, @5), t(1, @7); applied per event:
    # t arrives as the 4th item -> the oldest, q@2, goes. Left: s@5, p@6, t@7.
    events = [ev("p", "IMPRESSION", 1), ev("q", "IMPRESSION", 2), ev("r", "IMPRESSION", 3),
              ev("r", "CLICK", 4), ev("s", "IMPRESSION", 5), ev("p", "IMPRESSION", 6),
              ev("t", "IMPRESSION", 7)]
    s = fold_user_events(UserState(), events, N3)
    assert dict(s.ignored) == {"p": 2, "s": 1, "t": 1}
    assert dict(s.ignored_at) == {"p": 6.0, "s": 5.0, "t": 7.0}


def test_the_cap_applies_per_event_so_batching_does_not_matter():
    # ignored with a cap of 1: A@1, B@2 (A dropped), A@3 -> A counts 1 impression (its count was
    # dropped with it), whether the three events come in one fold or one per fold
    events = [ev("A", "IMPRESSION", 1), ev("B", "IMPRESSION", 2), ev("A", "IMPRESSION", 3)]
    one = UserCaps(set_max=1)
    at_once = fold_user_events(UserState(), events, one)
    stepwise = UserState()
    for e in events:
        stepwise = fold_user_events(stepwise, [e], one)
    assert dict(at_once.ignored) == dict(stepwise.ignored) == {"A": 1}


def test_random_streams_fold_to_the_batch_state():
    """300 events of 12 items over every type, in time order, cut at random points: each cut
    yields the state of the one-shot fold (the offline job) after a round trip through the row
    (what the online sink reads back)."""
    rng = random.Random(7)
    types = list(S.BEHAVIOUR_TYPES)
    events = [ev(f"i{rng.randrange(12)}", rng.choice(types), float(t // 2)) for t in range(300)]
    batch = fold_user_events(UserState(), events, N3)
    for _ in range(5):
        state, pos = UserState(), 0
        while pos < len(events):
            step = rng.randint(1, 40)
            state = fold_user_events(state, events[pos : pos + step], N3)
            state = user_state_from_row(user_state_to_row(state))  # the online store in between
            pos += step
        assert user_state_to_row(state) == user_state_to_row(batch)


def test_the_offline_batch_job_writes_capped_rows(monkeypatch):
    from offline.features.batch import user_snapshots

    monkeypatch.setenv(ENV_SET_MAX, "3")
    t0 = pd.Timestamp("2026-01-05", tz="UTC")
    frame = pd.DataFrame({
        S.EVENT_ID: [f"e{k}" for k in range(5)], S.USER_ID: ["u"] * 5,
        S.ITEM_ID: ["a", "b", "c", "d", "e"], S.EVENT_TYPE: ["PURCHASE"] * 5,
        S.QUANTITY: [1.0] * 5, S.PRICE: [1.0] * 5,
        S.TIMESTAMP: [t0 + pd.Timedelta(seconds=k) for k in range(5)], S.SESSION_ID: [""] * 5,
        S.SPLIT: ["train"] * 5,
    }, columns=list(S.EVENT_COLUMNS))
    last = user_snapshots(frame).iloc[-1]
    assert list(last[fn.BOUGHT]) == ["c", "d", "e"] and last["purchase_count_all"] == 5


def test_rows_from_before_the_times_read_back_and_a_lower_cap_cuts_them():
    # an old row: bought sorted by id, no times, ignored as bare counts -> times = as_of
    old = {fn.AS_OF: 50.0, fn.BOUGHT: ["a", "b", "c", "d"], fn.IGNORED: '{"z": 4}'}
    s = user_state_from_row(old)
    assert dict(s.bought_at) == dict.fromkeys("abcd", 50.0) and dict(s.ignored_at) == {"z": 50.0}
    # folding under a cap of 3 cuts the set first (ties at 50 s: the smallest id goes), then e@60
    # is newer than all of them: b, c, d kept, then b goes for e
    s2 = fold_user_events(s, [ev("e", "PURCHASE", 60)], N3)
    assert user_state_to_row(s2)[fn.BOUGHT] == ["c", "d", "e"]


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "2.5", "100001"])
def test_a_bad_cap_is_refused_naming_the_variable(raw):
    with pytest.raises(ValueError, match=ENV_SET_MAX):
        caps_from_env({ENV_SET_MAX: raw})


def test_the_cap_defaults_and_reads_the_environment():
    assert caps_from_env({}) == UserCaps(DEFAULT_SET_MAX) == caps_from_env({ENV_SET_MAX: " "})
    assert caps_from_env({ENV_SET_MAX: "25"}).set_max == 25
    with pytest.raises(ValueError, match="user_set_max"):
        UserCaps(set_max=0)


def test_serve_and_ingest_refuse_a_bad_cap_at_start_up(tmp_path):
    from fulcrum.core.errors import ConfigError
    from online.config import build_config
    from online.ingest.factory import SinkConfig

    with pytest.raises(ConfigError, match=ENV_SET_MAX):
        build_config({}, {ENV_SET_MAX: "zero"})
    assert build_config({}, {ENV_SET_MAX: "50"}).port > 0
    import os
    from unittest import mock

    with mock.patch.dict(os.environ, {ENV_SET_MAX: "-3"}), pytest.raises(ValueError, match=ENV_SET_MAX):
        SinkConfig(feature_repo=tmp_path)
