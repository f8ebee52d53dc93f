"""Validation on a bounded, seeded sample of users, and the grid's user tower run once per batch
(offline/model/holdout.py, offline/model/hybrid_fit.py)."""

from __future__ import annotations

import numpy as np

from fulcrum.core.schema import EVENT_TYPE_CODE
from offline.model.holdout import discovery_eval
from offline.model.hybrid_fit import memoised_encoder
from tests.offline.model.test_examples_scale import _inter

P = EVENT_TYPE_CODE["PURCHASE"]
DAY = 86_400.0


def _shop(n_users: int = 40, n_items: int = 30):
    # every user buys 4 distinct items on days 0-3 and 2 more (new to them) on days 10 and 11
    rng = np.random.default_rng(3)
    users = []
    for _ in range(n_users):
        items = rng.choice(n_items, 6, replace=False)
        users.append((items, np.full(6, P), np.array([0, 1, 2, 3, 10, 11], dtype=np.float64) * DAY))
    inter = _inter(users, n_items)
    after = inter.ev_time >= 5 * DAY
    pairs = (inter.ev_user[after], inter.ev_item[after])
    return inter, pairs


def _encode(emb, typ, age, msk):
    v = (emb * msk[..., None]).sum(axis=1)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def test_max_users_scores_a_seeded_sample() -> None:
    inter, pairs = _shop()
    vecs = np.random.default_rng(0).standard_normal((inter.n_items, 8)).astype(np.float32)
    full = discovery_eval(inter, vecs, _encode, 5 * DAY, pairs, t_len=10)
    assert full["users"] == 40.0
    a = discovery_eval(inter, vecs, _encode, 5 * DAY, pairs, t_len=10, max_users=15, seed=1)
    b = discovery_eval(inter, vecs, _encode, 5 * DAY, pairs, t_len=10, max_users=15, seed=1)
    assert a["users"] == 15.0 and a == b  # same seed, same users, same figures
    # a cap at or above the number of warm users changes nothing
    assert discovery_eval(inter, vecs, _encode, 5 * DAY, pairs, t_len=10, max_users=40) == full


def test_the_grid_encodes_each_batch_once() -> None:
    calls = []

    def encode(*arrays):
        calls.append(1)
        return _encode(*arrays)

    inter, pairs = _shop()
    vecs = np.random.default_rng(0).standard_normal((inter.n_items, 8)).astype(np.float32)
    once = memoised_encoder(encode)
    first = discovery_eval(inter, vecs, once, 5 * DAY, pairs, t_len=10)
    assert len(calls) == 1  # 40 users: one batch
    assert discovery_eval(inter, vecs, once, 5 * DAY, pairs, t_len=10) == first
    assert len(calls) == 1  # the second grid point reuses it
    other = vecs + 1.0  # a different batch (other item vectors) is encoded again
    discovery_eval(inter, other, once, 5 * DAY, pairs, t_len=10)
    assert len(calls) == 2
