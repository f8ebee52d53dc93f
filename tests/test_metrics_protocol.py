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
