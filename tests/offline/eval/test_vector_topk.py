"""vector_top_k: dot-product top-k with exclusions, a candidate pool and a popularity fallback."""

import numpy as np

from offline.eval.vector_topk import vector_top_k

ITEMS = ["a", "b", "c", "d"]
# item vectors (1-d for hand scoring): a=0.9, b=0.5, c=0.7, d=0.95
VECS = np.array([[0.9], [0.5], [0.7], [0.95]], dtype=np.float32)
INDEX = {i: j for j, i in enumerate(ITEMS)}


def _run(user_ids, k, exclude, allowed=(True, True, True, False)):
    return vector_top_k(
        user_ids, k, exclude, user_vecs={"u": np.array([1.0], dtype=np.float32)}, item_vecs=VECS.copy(),
        item_ids=ITEMS, index=INDEX, allowed=np.array(allowed), popular=["c", "b", "a"],
    )


def test_scores_order_pool_and_exclusions() -> None:
    # u scores: a .9, b .5, c .7, d .95 — d is outside the pool, a is excluded -> c (.7), b (.5)
    assert _run(["u"], 2, {"u": {"a"}}) == [["c", "b"]]


def test_never_returns_more_than_the_allowed_items() -> None:
    # pool {a, b, c}, a excluded: only two items can be returned even for k = 3
    assert _run(["u"], 3, {"u": {"a"}}) == [["c", "b"]]


def test_unknown_user_gets_popularity_minus_exclusions() -> None:
    # popular = c, b, a; b excluded -> c, a
    assert _run(["nobody"], 2, {"nobody": {"b"}}) == [["c", "a"]]
