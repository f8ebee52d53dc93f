"""Item-item models of the hybrid's neighbour term (offline/model/item_graph.py), hand-worked."""

from __future__ import annotations

import numpy as np
import pytest

from offline.model.item_graph import (
    NeighbourModel,
    binary_matrix,
    ease_weights,
    item_weights,
    rp3beta_weights,
)

# users x items: u0 bought {0, 1}, u1 {0, 1, 2}, u2 {1}
#   deg(u) = [2, 3, 1]; deg(item) = [2, 3, 1]
_USERS = np.array([0, 0, 1, 1, 1, 2, 0])  # the last pair repeats (u0, item 0): counts once
_ITEMS = np.array([0, 1, 0, 1, 2, 1, 0])


def _x():
    return binary_matrix(_USERS, _ITEMS, 3, 3)


def test_binary_matrix_counts_a_pair_once() -> None:
    assert _x().toarray().tolist() == [[1, 1, 0], [1, 1, 1], [0, 1, 0]]


def test_rp3beta_by_hand_alpha_1_beta_1() -> None:
    # W[i, j] = sum_u (X[u,i] / deg(i)) * (X[u,j] / deg(u)) / deg(j)
    #   W[0,1] = (u0: 1/2 * 1/2 + u1: 1/2 * 1/3) / 3 = (5/12) / 3 = 5/36
    #   W[0,2] = (u1: 1/2 * 1/3) / 1 = 1/6
    #   W[1,0] = (u0: 1/3 * 1/2 + u1: 1/3 * 1/3) / 2 = (5/18) / 2 = 5/36
    #   W[1,2] = (u1: 1/3 * 1/3) / 1 = 1/9
    #   W[2,0] = (u1: 1 * 1/3) / 2 = 1/6
    #   W[2,1] = (u1: 1 * 1/3) / 3 = 1/9      (u2 has no item 2)
    full = rp3beta_weights(_x(), alpha=1.0, beta=1.0, topk=10).toarray()
    expected = np.array([[0, 5 / 36, 1 / 6], [5 / 36, 0, 1 / 9], [1 / 6, 1 / 9, 0]])
    np.testing.assert_allclose(full, expected)
    # topk 1 per CANDIDATE (column): item 0 keeps source 2 (1/6 > 5/36), item 1 keeps source 0
    # (5/36 > 1/9), item 2 keeps source 0 (1/6 > 1/9)
    top1 = rp3beta_weights(_x(), alpha=1.0, beta=1.0, topk=1).toarray()
    np.testing.assert_allclose(top1, [[0, 5 / 36, 1 / 6], [0, 0, 0], [1 / 6, 0, 0]])


def test_rp3beta_alpha_and_beta_by_hand() -> None:
    # beta 0: no popularity penalty; W[0,1] = 5/12, W[2,1] = 1/3 -> item 1 keeps source 0;
    # W[1,0] = 5/18 < W[2,0] = 1/3 -> item 0 keeps source 2
    w = rp3beta_weights(_x(), alpha=1.0, beta=0.0, topk=1).toarray()
    assert w[0, 1] == pytest.approx(5 / 12) and w[2, 0] == pytest.approx(1 / 3)
    # alpha 0.5: W[0,1] = sqrt(1/2 * 1/2) + sqrt(1/2 * 1/3) = 1/2 + 1/sqrt(6)
    w = rp3beta_weights(_x(), alpha=0.5, beta=0.0, topk=10).toarray()
    assert w[0, 1] == pytest.approx(0.5 + 1 / np.sqrt(6))


def test_rp3beta_blocks_give_the_same_matrix(monkeypatch) -> None:
    import offline.model.item_graph as ig

    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 40, 300), rng.integers(0, 25, 300)
    x = binary_matrix(users, items, 40, 25)
    one = rp3beta_weights(x, 0.7, 0.4, 5).toarray()
    monkeypatch.setattr(ig, "_BLOCK", 3)  # candidates in blocks of 3
    np.testing.assert_allclose(rp3beta_weights(x, 0.7, 0.4, 5).toarray(), one)
    assert ((one > 0).sum(axis=0) <= 5).all() and np.diag(one).sum() == 0


def test_ease_two_items_is_a_ridge_regression_by_hand() -> None:
    # u0 {0, 1}, u1 {0}, u2 {0, 1}: X^T X = [[3, 2], [2, 2]]; with lambda 1 the weight of source
    # i for candidate j is x_i . x_j / (x_i . x_i + lambda): W[0,1] = 2 / 4, W[1,0] = 2 / 3
    x = binary_matrix(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 0, 0, 1]), 3, 2)
    np.testing.assert_allclose(ease_weights(x, 1.0, 5).toarray(), [[0, 0.5], [2 / 3, 0]])


def test_ease_keeps_only_positive_weights() -> None:
    rng = np.random.default_rng(1)
    x = binary_matrix(rng.integers(0, 30, 200), rng.integers(0, 12, 200), 30, 12)
    g = (x.T @ x).toarray() + 5.0 * np.eye(12)
    p = np.linalg.inv(g)
    dense = -p / np.diag(p)[None, :]
    np.fill_diagonal(dense, 0.0)
    assert (dense < 0).any()  # the fixture has negative weights to drop
    kept = ease_weights(x, 5.0, 100).toarray()
    np.testing.assert_allclose(kept, np.where(dense > 0, dense, 0.0))


def test_cosine_model_is_the_item_knn_table_by_source() -> None:
    # cosine(0, 1) = 2 co-buyers / sqrt(2 * 3); cosine(0, 2) = 1 / sqrt(2 * 1); cosine(1, 2) = 1 / sqrt(3)
    w = item_weights(_x(), NeighbourModel("cosine", {"neighbours": 1})).toarray()
    # (0.816, 0.707, 0.577). neighbours 1 per candidate: item 0 keeps source 1 (0.816 > 0.707),
    # item 1 keeps source 0 (0.816 > 0.577), item 2 keeps source 0 (0.707 > 0.577)
    np.testing.assert_allclose(w, [[0, 2 / np.sqrt(6), 1 / np.sqrt(2)], [2 / np.sqrt(6), 0, 0], [0, 0, 0]])


def test_neighbour_model_validates_and_round_trips() -> None:
    m = NeighbourModel("rp3beta", {"alpha": 0.5, "beta": 0.3, "topk": 20})
    assert NeighbourModel.from_record(m.record()) == m
    assert NeighbourModel.from_record(None, 35) == NeighbourModel("cosine", {"neighbours": 35})
    with pytest.raises(ValueError, match="not known"):
        NeighbourModel("slim", {})
    with pytest.raises(ValueError, match="parameters must be"):
        NeighbourModel("rp3beta", {"alpha": 0.5})
    with pytest.raises(ValueError, match="rp3beta: need"):
        rp3beta_weights(_x(), 0.0, 0.3, 5)
