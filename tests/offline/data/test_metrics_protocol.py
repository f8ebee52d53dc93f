"""The OR-temporal protocol on a hand-built split."""

from offline.eval.protocol import build_protocol, head_items, protocol_for
from tests.fixtures.purchases import prepared_from

TRAIN = [("u1", "a"), ("u1", "b"), ("u2", "a"), ("u3", "c"), ("u4", "a"), ("u4", "d"), ("u5", "e")]
TEST = [
    ("u1", "a"), ("u1", "c"),   # u1: re-buys a, discovers c -> warm, target {c}
    ("u2", "a"),                # u2: only re-buys -> not warm (no discovery)
    ("u3", "x"), ("u3", "a"),   # u3: x is new to the shop, a is new to u3 -> target {x, a}
    ("u9", "b"),                # u9: no train purchase -> cold, target {b}
]


def test_warm_cold_targets_exclusions_pool():
    p = protocol_for(prepared_from(TRAIN, TEST))
    assert p.warm_users == ("u1", "u3")
    assert p.targets == {"u1": {"c"}, "u3": {"x", "a"}}
    assert p.exclusions == {"u1": {"a", "b"}, "u3": {"c"}}
    assert p.cold_users == ("u9",) and p.cold_targets == {"u9": {"b"}}
    # pool = train items only (x never appears in train)
    assert p.candidate_pool == {"a", "b", "c", "d", "e"}
    # head = ceil(0.2 * 5) = 1 item: a (3 train rows)
    assert p.head_items == {"a"}
    assert p.item_train_users["a"] == 3 and p.n_train_users == 5


def test_repeat_allowed_variant():
    p = protocol_for(prepared_from(TRAIN, TEST), repeat_allowed=True)
    # every user with train and test purchases; all test items; nothing excluded
    assert p.warm_users == ("u1", "u2", "u3")
    assert p.targets["u1"] == {"a", "c"} and p.targets["u2"] == {"a"}
    assert all(not e for e in p.exclusions.values())


def test_head_items_ties_by_id():
    import pandas as pd
    # 10 items -> ceil(2.0) = 2 head items; counts tie at 5 for b, a, z: a and b win by id
    counts = pd.Series({"z": 5, "b": 5, "a": 5, "c": 1, "d": 1, "e": 1, "f": 1, "g": 1, "h": 1, "i": 1})
    assert head_items(counts) == {"a", "b"}


def test_empty_test_side():
    prepared = prepared_from(TRAIN, [])
    p = build_protocol(prepared.train_purchases(), prepared.test_purchases())
    assert p.warm_users == () and p.cold_users == ()


def _multibehaviour(train: list[tuple[str, str, str]], test: list[tuple[str, str, str]]):
    """(user, item, event type) before and after the cut-off -> PreparedData."""
    import pandas as pd

    from fulcrum.core import schema as S
    from offline.data.items import build_items
    from offline.data.prepare import finalize
    from offline.data.report import CleaningReport
    from tests.fixtures.purchases import CUTOFF, TEST_DAY, TRAIN_DAY

    rows = [(u, i, t, TRAIN_DAY + pd.Timedelta(minutes=n)) for n, (u, i, t) in enumerate(train)]
    rows += [(u, i, t, TEST_DAY + pd.Timedelta(minutes=n)) for n, (u, i, t) in enumerate(test)]
    events = pd.DataFrame({
        S.EVENT_ID: [f"e{n}" for n in range(len(rows))], S.USER_ID: [r[0] for r in rows],
        S.ITEM_ID: [r[1] for r in rows], S.EVENT_TYPE: [r[2] for r in rows], S.QUANTITY: 1.0,
        S.PRICE: 1.0, S.TIMESTAMP: pd.to_datetime([r[3] for r in rows], utc=True), S.SESSION_ID: "",
    })
    return finalize(events, build_items(events), CleaningReport(source="test", path="-", raw_rows=len(rows)),
                    "time", "test", cutoff=CUTOFF)


def test_interactions_history():
    v, c, p, x = "VIEW", "ADD_TO_CART", "PURCHASE", "CANCEL"
    prepared = _multibehaviour(
        [("u1", "a", v), ("u1", "b", c), ("u2", "a", p), ("u2", "c", v), ("u3", "d", x)],
        [("u1", "a", p), ("u1", "c", p), ("u2", "e", v), ("u3", "d", p), ("u9", "a", p)],
    )
    purchases = protocol_for(prepared)
    # purchase history: only u2 bought in train, and u2 buys nothing in test; u1, u3 and u9 are cold
    assert purchases.warm_users == () and purchases.cold_users == ("u1", "u3", "u9")
    assert purchases.candidate_pool == {"a"}
    inter = protocol_for(prepared, history="interactions")
    # every positive train event is history (u3's CANCEL is not): u1 viewed a and carted b, so
    # discovery keeps c as u1's target and excludes a, b; u3 and u9 have no positive history
    assert inter.history == "interactions" and inter.name == "/interactions"
    assert inter.warm_users == ("u1",) and inter.targets == {"u1": {"c"}}
    assert inter.exclusions == {"u1": {"a", "b"}}
    assert inter.cold_users == ("u3", "u9")
    assert inter.candidate_pool == {"a", "b", "c"}
    # head = ceil(0.2 * 3) = 1 item: a (2 train interactions)
    assert inter.head_items == {"a"} and inter.n_train_users == 2
    repeat = protocol_for(prepared, repeat_allowed=True, history="interactions")
    # repeat-allowed: u1's viewed item a is a target again, nothing excluded
    assert repeat.targets == {"u1": {"a", "c"}} and not repeat.exclusions["u1"]
    assert repeat.name == "/interactions/repeat-allowed"
