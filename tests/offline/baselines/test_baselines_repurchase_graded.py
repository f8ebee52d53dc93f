"""repurchase-graded: own items graded by the serving repeat term (hand-worked), then popularity;
its (half-life, engaged weight) chosen on validation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fulcrum.core import schema as S
from offline.baselines.interactions import Interactions
from offline.baselines.registry import run_baselines
from offline.baselines.repurchase_graded import GradedRepurchase
from offline.baselines.scoring import ScoreRecommender
from offline.data.items import build_items
from offline.data.prepare import finalize
from offline.data.report import CleaningReport
from offline.eval.protocol import protocol_for

CUTOFF = pd.Timestamp("2024-06-01", tz="UTC")
VIEW, CART, BUY = S.EventType.VIEW.value, S.EventType.ADD_TO_CART.value, S.EventType.PURCHASE.value


def _events(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    """(user, item, type, day relative to the cut) -> generic events."""
    return pd.DataFrame({
        S.EVENT_ID: [f"e{n}" for n in range(len(rows))],
        S.USER_ID: [r[0] for r in rows],
        S.ITEM_ID: [r[1] for r in rows],
        S.EVENT_TYPE: [r[2] for r in rows],
        S.QUANTITY: 1.0,
        S.PRICE: 1.0,
        S.TIMESTAMP: pd.to_datetime([CUTOFF + pd.Timedelta(days=r[3]) for r in rows], utc=True),
        S.SESSION_ID: "",
    })


@pytest.fixture()
def fitted():
    # u: a viewed twice (4 and 3 days before u's newest event), b carted 2 days before it, c bought
    # at the newest event, d viewed -- then cancelled (not positive); p is bought by 3 others,
    # q by 1: popularity orders the rest
    rows = [("u", "a", VIEW, -10), ("u", "a", VIEW, -9), ("u", "b", CART, -8), ("u", "c", BUY, -6),
            ("u", "d", S.EventType.CANCEL.value, -7),
            ("x", "p", BUY, -5), ("y", "p", BUY, -5), ("z", "p", BUY, -5), ("z", "q", BUY, -5)]
    inter = Interactions.from_events(_events(rows), "interactions")
    model = GradedRepurchase()
    model.fit(inter)
    return model, inter


def test_no_decay_unit_weights_grade_like_counts(fitted):
    model, inter = fitted
    # h 0, e 1: S = number of positive events; repeat = log2(1 + S)
    assert model.strengths(inter.user_index["u"]) == pytest.approx({"a": math.log2(3), "b": 1.0, "c": 1.0})


def test_half_life_and_engaged_weight_hand_worked(fitted):
    model, inter = fitted
    model.set_knob(half_life_days=2.0, engaged_weight=4.0)
    # ages from u's newest event (day -6): a 4 and 3 days -> 2^-2 + 2^-1.5; b 2 days -> 4 * 2^-1;
    # c 0 days -> 4
    a = math.log2(1 + 0.25 + 2 ** -1.5)
    b, c = math.log2(1 + 2.0), math.log2(1 + 4.0)
    assert model.strengths(inter.user_index["u"]) == pytest.approx({"a": a, "b": b, "c": c})
    row = model.score(np.array([inter.user_index["u"]]))[0]
    col = inter.item_index
    # own items 1 + repeat (+ 1e-9 x popularity: a tie-break only); others 0.5 x buyers / max
    assert row[col["c"]] == pytest.approx(1 + c) and row[col["a"]] == pytest.approx(1 + a)
    assert row[col["p"]] == pytest.approx(0.5) and row[col["q"]] == pytest.approx(0.5 / 3)
    fn = ScoreRecommender(model, inter)
    # own items first, graded (c > b > a), then popularity (p > q); the cancelled d is not own
    assert fn(["u"], 5, {})[0] == ["c", "b", "a", "p", "q"]
    # an unknown user gets popularity
    assert model.score_unknown()[[col["p"], col["q"], col["a"]]] == pytest.approx([0.5, 0.5 / 3, 0.5 / 3])
    assert fn(["nobody"], 1, {}) == [["p"]]
    # the ungraded order differs: with h 0, e 1 the twice-viewed a leads
    model.set_knob(half_life_days=0.0, engaged_weight=1.0)
    assert fn(["u"], 3, {})[0][0] == "a"


def test_bad_shape_is_refused(fitted):
    model, _ = fitted
    with pytest.raises(ValueError, match="engaged_weight"):
        model.set_knob(half_life_days=1.0, engaged_weight=0.0)


def _prepared(rows):
    events = _events(rows)
    report = CleaningReport(source="test", path="-", raw_rows=len(events))
    return finalize(events, build_items(events), report, "time", "test", cutoff=CUTOFF)


def test_tuning_picks_the_validation_best_shape():
    # before the validation window (the last 14 days of train): c carted once and v viewed 3 times
    # 20 days before the cut, r viewed once 15 days before (the newest event), o viewed twice 40
    # days before. In the validation window the user buys c and r.
    # S: c = e*d(5), v = 3*d(5), r = 1, o = 2*d(25) with d(t) = 2^(-t/h) (1 for h 0). Ideal
    # (c and r in the top 2) needs r > v and c > v: e > 3 and d(5) < 1 -> h in {1, 3} with e in
    # {4, 8}; the grid (h outer, e inner) reaches (h 1, e 4) first.
    rows = []
    for n in range(6):
        u, h = f"u{n}", n / 24
        rows += [(u, "o", VIEW, -40 + h), (u, "o", VIEW, -40 + h), (u, "c", CART, -20 + h)]
        rows += [(u, "v", VIEW, -20 + h)] * 3 + [(u, "r", VIEW, -15 + h)]
        rows += [(u, "c", BUY, -5 + h), (u, "r", BUY, -5 + h), (u, "c", BUY, 3 + h)]
    data = _prepared(rows)
    protocol = protocol_for(data, repeat_allowed=True, history="interactions")
    res = run_baselines(data, ["repurchase-graded"], k_list=(10,), threads=1, tune=True, protocol=protocol,
                        signal="interactions")["repurchase-graded"]
    tuning = res["tuning"]
    assert tuning["tuned"] and len(tuning["grid"]) == 16
    assert tuning["chosen"] == {"half_life_days": 1.0, "engaged_weight": 4.0}
    scores = {(p["half_life_days"], p["engaged_weight"]): p["validation_ndcg@10"] for p in tuning["grid"]}
    best = max(scores.values())
    assert scores[(1.0, 4.0)] == best == scores[(3.0, 8.0)]
    assert scores[(0.0, 1.0)] < best and scores[(7.0, 4.0)] < best and scores[(1.0, 2.0)] < best
    assert res["settings"]["half_life_days"] == 1.0 and res["settings"]["engaged_weight"] == 4.0


def test_recent_max_sees_what_a_profile_row_holds(fitted):
    """``recent_max`` = a serving profile row's view: the newest events plus the bought set."""
    _, inter = fitted
    model = GradedRepurchase(half_life_days=2.0, engaged_weight=4.0, recent_max=2)
    model.fit(inter)
    # u's positive events, oldest first: a, a, b (cart, day -8), c (buy, day -6); the newest two
    # are b and c: b 4 * 2^-1 = 2 -> log2(3), c 4 -> log2(5); both a views left the window
    assert model.strengths(inter.user_index["u"]) == pytest.approx({"b": math.log2(3), "c": math.log2(5)})
    assert model.settings["recent_max"] == 2
    # z bought p then q (same day); with one event kept, p's purchase left the window and counts
    # once as old as the oldest kept event (age 0 here): 4 -> log2(5), like q's
    one = GradedRepurchase(half_life_days=2.0, engaged_weight=4.0, recent_max=1)
    one.fit(inter)
    assert one.strengths(inter.user_index["z"]) == pytest.approx({"p": math.log2(5), "q": math.log2(5)})
    # a cap at least as long as the history changes nothing
    full, long = GradedRepurchase(2.0, 4.0), GradedRepurchase(2.0, 4.0, recent_max=50)
    full.fit(inter)
    long.fit(inter)
    assert long.strengths(inter.user_index["u"]) == full.strengths(inter.user_index["u"])
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="recent_max"):
            GradedRepurchase(recent_max=bad)
