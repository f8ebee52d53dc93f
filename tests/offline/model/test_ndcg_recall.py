"""The validation slice's per-user NDCG@k / Recall@k (offline/model/holdout.py ``ndcg_recall``),
hand-worked."""

from __future__ import annotations

import numpy as np
import pytest

from offline.model.holdout import ndcg_recall


def test_hand_worked_ndcg_and_recall() -> None:
    # k = 3, discounts 1, 1/log2(3) = 0.6309, 1/log2(4) = 0.5
    # user 0: targets {7, 9}; ranked 9, 1, 7 -> hits at ranks 1 and 3: DCG 1.5; ideal (2 targets)
    #         1.6309 -> 0.9197; recall 2/2
    # user 1: target {4}; ranked 1, 4, 2 -> DCG 0.6309, ideal 1 -> 0.6309; recall 1/1
    # user 2: targets {1, 2, 3, 5} (more than k): ranked 5, 8, 8 (a repeat counts per slot as the
    #         list is given) -> DCG 1, ideal 2.1309 -> 0.4693; recall 1/3
    ranked = np.array([[9, 1, 7, 0], [1, 4, 2, 0], [5, 8, 8, 0]])
    ndcg, recall = ndcg_recall(ranked, [{7, 9}, {4}, {1, 2, 3, 5}], 3)
    d3 = 1 / np.log2(3)
    assert ndcg == pytest.approx([1.5 / (1 + d3), d3, 1 / (1 + d3 + 0.5)], abs=1e-15)
    assert recall.tolist() == [1.0, 1.0, 1 / 3]
