"""The text stage without a catalogue-sized cache: only the fine-tuning's texts keep their lower
BERT states, the rest are pooled a batch at a time; the same features as the full cache."""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")


def _texts(tiny_bert_dir, n=70):
    from offline.export.synthetic_data import synthetic_words
    from offline.model.text_tower import TextTower, load_bert, load_tokenizer, tokenize

    rng = np.random.default_rng(0)
    words = synthetic_words()
    texts = [" ".join(rng.choice(words, size=int(rng.integers(1, 6)))) for _ in range(n)]
    torch.manual_seed(0)
    tower = TextTower(load_bert(tiny_bert_dir), dim=8, train_layers=1)
    ids, mask = tokenize(load_tokenizer(tiny_bert_dir, max_len=8), texts)
    return tower, ids, mask


def test_streamed_pooling_equals_the_full_cache(tiny_bert_dir):
    from offline.model.text_tower import cache_lower, pooled_all, pooled_streamed

    tower, ids, mask = _texts(tiny_bert_dir)
    want = pooled_all(tower, cache_lower(tower, ids, mask), mask)
    cached_rows = np.array([64, 3, 0, 17, 18, 40])  # any order; batches mix cached and computed rows
    cached = cache_lower(tower, ids[cached_rows], mask[cached_rows])
    got = pooled_streamed(tower, ids, mask, cached_rows, cached, batch=16)
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)
    none = pooled_streamed(tower, ids, mask, np.zeros(0, dtype=np.int64), torch.zeros((0, 8, 64)), batch=16)
    np.testing.assert_allclose(none.numpy(), want.numpy(), atol=1e-5)


def test_finetuning_on_the_drawn_rows_equals_the_full_cache(tiny_bert_dir):
    from offline.model.text_finetune import finetune_text, pair_draws
    from offline.model.text_tower import cache_lower
    from offline.train_config import TextConfig

    tower, ids, mask = _texts(tiny_bert_dir)
    rng = np.random.default_rng(1)
    pairs = rng.integers(0, len(ids), (200, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    prob = rng.random(len(ids))
    prob /= prob.sum()
    tail = rng.random(len(ids)) < 0.3
    cfg = TextConfig(steps=5, batch_size=4)
    full_tower = copy.deepcopy(tower)
    torch.manual_seed(5)  # the top layer's dropout
    full = finetune_text(full_tower, cache_lower(full_tower, ids, mask), mask, pairs, prob, tail, cfg, seed=3)
    used = np.unique(pairs[np.concatenate(pair_draws(len(pairs), cfg, 3))])
    assert len(used) < len(ids)  # the drawn texts are a part of the catalogue
    compact = np.full(len(ids), -1)
    compact[used] = np.arange(len(used))
    torch.manual_seed(5)
    part = finetune_text(tower, cache_lower(tower, ids[used], mask[used]), mask[used], compact[pairs],
                         prob[used], tail[used], cfg, seed=3)
    np.testing.assert_allclose(part, full, rtol=1e-5)
    for (name, a), (_, b) in zip(full_tower.state_dict().items(), tower.state_dict().items(), strict=True):
        np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-5, err_msg=name)
