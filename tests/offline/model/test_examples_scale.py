"""Training examples stay linear in a user's events (offline/model/examples.py).

A reference implementation of the window definition (every purchase in [cut, cut + horizon],
before the user's end, new items only for ``new_only``) is compared with ``build_examples`` on
random users whose windows fit ``max_window``; then one wholesale-like user with 20,000
purchases shows the example count bounded by purchases x max_window.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fulcrum.core.schema import EVENT_TYPE_CODE
from offline.model.examples import build_examples

P, V = EVENT_TYPE_CODE["PURCHASE"], EVENT_TYPE_CODE["VIEW"]
DAY = 86_400.0


def _inter(per_user: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n_items: int):
    from offline.model.interactions import Interactions

    items = pd.DataFrame({"item_id": [f"i{j}" for j in range(n_items)], "text": ["t"] * n_items})
    lens = [len(it) for it, _, _ in per_user]
    return Interactions(
        items=items,
        item_texts=["t"] * n_items,
        user_ids=np.array([f"u{k}" for k in range(len(per_user))]),
        ev_item=np.concatenate([a for a, _, _ in per_user]).astype(np.int64),
        ev_type=np.concatenate([b for _, b, _ in per_user]).astype(np.int64),
        ev_time=np.concatenate([c for _, _, c in per_user]).astype(np.float64),
        user_start=np.concatenate([[0], np.cumsum(lens)]).astype(np.int64),
        train_end=1e12,
        test=pd.DataFrame(),
        fingerprint="x",
    )


def _reference(inter, t_lo, t_hi, horizon_days, new_only):
    """The definition, written the slow way: (user, hist_end, cut, sorted targets) per cut."""
    out = []
    for u in range(len(inter.user_ids)):
        sl = inter.user_slice(u)
        items, codes, ts = inter.ev_item[sl], inter.ev_type[sl], inter.ev_time[sl]
        p_items, p_ts = items[codes == P], ts[codes == P]
        first: dict[int, float] = {}
        for it, t in zip(p_items.tolist(), p_ts.tolist(), strict=True):
            first.setdefault(it, t)
        for cut in sorted(set(p_ts.tolist())):
            end = int(np.searchsorted(ts, cut, side="left"))
            if cut < t_lo or cut >= t_hi or end == 0:
                continue
            win = (p_ts >= cut) & (p_ts <= cut + horizon_days * DAY) & (p_ts < t_hi)
            tgt = sorted({int(i) for i in p_items[win] if not new_only or first[int(i)] >= cut})
            if tgt:
                out.append((u, sl.start + end, cut, tgt))
    return out


def _random_user(rng, n_events: int, n_items: int):
    times = np.sort(rng.integers(0, 60, n_events)).astype(np.float64) * DAY / 4  # shared moments
    codes = np.where(rng.random(n_events) < 0.6, P, V)
    return rng.integers(0, n_items, n_events), codes, times


@pytest.mark.parametrize("new_only", [True, False])
@pytest.mark.parametrize("horizon", [0.0, 3.0])
def test_matches_the_window_definition(new_only: bool, horizon: float) -> None:
    rng = np.random.default_rng(5)
    inter = _inter([_random_user(rng, int(rng.integers(1, 40)), 15) for _ in range(30)], 15)
    t_hi = 12 * DAY
    ex = build_examples(inter, -np.inf, t_hi, horizon, new_only)
    want = _reference(inter, -np.inf, t_hi, horizon, new_only)
    assert len(want) > 20  # the random users do produce cuts
    got = [
        (int(ex.user[c]), int(ex.hist_end[c]), float(ex.time[c]),
         ex.target[ex.ptr[c] : ex.ptr[c + 1]].tolist())
        for c in range(ex.n_cuts)
    ]
    assert got == want


def test_a_window_longer_than_max_window_keeps_the_nearest_purchases() -> None:
    # one view, then items 0..9 bought one per hour; a 1-day horizon sees all 10 from the first
    # cut, max_window=3 keeps the 3 nearest purchases (the cut's own and the next two)
    items = np.array([0, *range(10)])
    codes = np.array([V] + [P] * 10)
    times = np.arange(11, dtype=np.float64) * 3600.0
    ex = build_examples(_inter([(items, codes, times)], 10), -np.inf, np.inf, 1.0, False, max_window=3)
    assert ex.n_cuts == 10
    assert ex.target[ex.ptr[0] : ex.ptr[1]].tolist() == [0, 1, 2]
    assert ex.target[ex.ptr[9] : ex.ptr[10]].tolist() == [9]  # the last cut: only its own item


def test_a_wholesale_user_stays_linear() -> None:
    # 20,000 purchases of 5,000 items over 30 days (hundreds inside every 7-day horizon): the
    # unbounded definition gives ~20,000 x 4,600 targets (~90 million); capped, at most
    # purchases x max_window, and the arrays hold exactly that many int64s
    rng = np.random.default_rng(0)
    n = 20_000
    times = np.sort(rng.uniform(0, 30 * DAY, n))
    codes = np.full(n, P)
    codes[0] = V
    inter = _inter([(rng.integers(0, 5_000, n), codes, times)], 5_000)
    ex = build_examples(inter, -np.inf, np.inf, 7.0, False, max_window=64)
    assert ex.n_cuts == n - 1  # every purchase moment after the first event is a cut
    assert 0 < len(ex) <= (n - 1) * 64
    assert len(ex) > (n - 1) * 50  # the cap binds: nearly 64 distinct items per cut
    assert ex.target.nbytes == 8 * len(ex)
    half = build_examples(
        _inter([(inter.ev_item[: n // 2], codes[: n // 2], times[: n // 2])], 5_000),
        -np.inf, np.inf, 7.0, False, max_window=64,
    )
    assert len(ex) <= 2.1 * len(half)  # twice the events, about twice the examples


def test_max_window_must_be_positive() -> None:
    inter = _inter([(np.array([0]), np.array([P]), np.array([0.0]))], 1)
    with pytest.raises(ValueError, match="max_window"):
        build_examples(inter, -np.inf, np.inf, 0.0, False, max_window=0)
