"""Each distinct item text is encoded once (offline/model/text_dedupe.py, the text stage)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fulcrum.core.schema import EVENT_TYPE_CODE
from offline.model.text_dedupe import distinct_rows, distinct_texts


def test_distinct_rows_in_order_of_first_appearance() -> None:
    ids = np.array([[5, 6, 0], [7, 0, 0], [5, 6, 0], [5, 6, 0], [7, 8, 0]])
    mask = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 0], [1, 1, 0], [1, 1, 0]])
    first, inverse = distinct_rows(ids, mask)
    # rows 0, 2, 3 are one input; rows 1 and 4 differ from it and from each other
    assert first.tolist() == [0, 1, 4]
    assert inverse.tolist() == [0, 1, 0, 0, 2]
    assert (ids[first][inverse] == ids).all() and (mask[first][inverse] == mask).all()
    # the same ids with another mask are another input
    first, inverse = distinct_rows(np.array([[5, 6], [5, 6]]), np.array([[1, 1], [1, 0]]))
    assert first.tolist() == [0, 1] and inverse.tolist() == [0, 1]
    first, inverse = distinct_rows(np.zeros((0, 3), np.int64), np.zeros((0, 3), np.int64))
    assert len(first) == 0 and len(inverse) == 0
    with pytest.raises(ValueError):
        distinct_rows(np.zeros((2, 3)), np.zeros((1, 3)))


def test_distinct_texts_maps_back() -> None:
    distinct, inverse = distinct_texts(["b", "a", "b", "c", "a"])
    assert distinct == ["b", "a", "c"]
    assert inverse.tolist() == [0, 1, 0, 2, 1]
    assert [distinct[j] for j in inverse] == ["b", "a", "b", "c", "a"]


def test_text_stage_encodes_each_distinct_text_once(tiny_bert_dir: Path, monkeypatch) -> None:
    import torch

    from offline.model import text_tower
    from offline.model.text_stage import text_stage
    from offline.train_config import TrainConfig
    from tests.offline.model.test_examples_scale import _inter

    seen_rows: list[int] = []
    real = text_tower.TextTower.lower

    def counting(self, ids, mask):
        seen_rows.append(len(ids))
        return real(self, ids, mask)

    # the lower layers run once per distinct text: cached for the fine-tuning's texts, the
    # others in the pooling pass
    monkeypatch.setattr(text_tower.TextTower, "lower", counting)
    p = EVENT_TYPE_CODE["PURCHASE"]
    users = [(np.array([0, 1, 2, 3]), np.full(4, p), np.array([1.0, 1.0, 2.0, 2.0]))] * 3
    inter = _inter(users, n_items=6)
    texts = ["red mug", "blue mug", "red mug", "red mug", "green hat", "blue mug"]
    inter = type(inter)(**{**inter.__dict__, "item_texts": texts})
    cfg = TrainConfig(dim=16, text={"model_path": str(tiny_bert_dir), "steps": 2, "batch_size": 4})
    counts = np.bincount(inter.ev_item, minlength=6).astype(np.float64)
    timings: dict[str, float] = {}
    _, _, pooled, _, losses = text_stage(inter, cfg, tiny_bert_dir, counts, np.inf,
                                         np.random.default_rng(0), False, timings)
    assert sum(seen_rows) == 3  # three distinct texts for six items
    assert pooled.shape[0] == 6
    # items with the same text share their features exactly; different texts differ
    assert torch.equal(pooled[0], pooled[2]) and torch.equal(pooled[0], pooled[3])
    assert torch.equal(pooled[1], pooled[5])
    assert not torch.equal(pooled[0], pooled[1])
    assert len(losses) == 2
