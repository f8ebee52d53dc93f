"""The text stage of a training run: the pretrained BERT over item texts -> pooled features.

Tokenize every item text (``fulcrum.core.text``), run the frozen lower layers once per distinct
input (``offline.model.text_dedupe``: a catalogue with repeated texts encodes each once) and cache
their output, fine-tune the top ``text.train_layers`` contrastively on co-purchased pairs (tail
items get light text augmentation), then pool every item through the fine-tuned top.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from fulcrum.core.text import render_item_text
from offline.train_config import TrainConfig

log = logging.getLogger(__name__)


def _bar(desc: str, total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False)


def text_stage(inter, cfg: TrainConfig, model_path: Path, counts, val_cut, rng, progress, timings):
    """Tokenize, cache the frozen lower BERT layers, fine-tune the top on co-purchase pairs, pool.
    Returns (tokenizer, text tower, pooled features, pairs, losses); fills ``timings``."""
    import torch

    from offline.model.text_dedupe import distinct_rows
    from offline.model.text_finetune import basket_pairs, finetune_text
    from offline.model.text_tower import (
        TextTower,
        cache_lower,
        load_bert,
        load_tokenizer,
        pooled_all,
        tokenize,
    )

    t = time.perf_counter()
    tok = load_tokenizer(model_path, cfg.text.max_len)
    ids, mask = tokenize(tok, [render_item_text(x) for x in inter.item_texts])
    # each distinct input once (offline.model.text_dedupe); `of_item` maps items to it
    first, of_item = distinct_rows(ids, mask)
    ids, mask = ids[first], mask[first]
    tower = TextTower(load_bert(model_path), cfg.dim, cfg.text.train_layers)
    bar = _bar("cache lower layers", len(ids), progress)
    lower = cache_lower(tower, ids, mask, progress=lambda d, n: bar.update(d - bar.n))
    bar.close()
    timings["cache_s"] = time.perf_counter() - t
    log.info(
        "cached lower BERT layers of %d distinct texts of %d items (len %d) in %.1f s",
        len(ids),
        len(of_item),
        ids.shape[1],
        timings["cache_s"],
    )

    # the fine-tuning's units are the distinct texts: purchases and pairs are summed onto them
    text_counts = np.bincount(of_item, weights=counts, minlength=len(first))
    item_prob = text_counts / max(1.0, text_counts.sum())
    is_tail = (
        text_counts <= np.quantile(text_counts[text_counts > 0], cfg.text.aug.tail_quantile)
        if (text_counts > 0).any()
        else np.ones(len(first), dtype=bool)
    )
    t = time.perf_counter()
    pairs = basket_pairs(inter, val_cut, rng)  # co-purchases before each user's validation cut
    text_pairs = of_item[pairs] if len(pairs) else pairs
    text_pairs = text_pairs[text_pairs[:, 0] != text_pairs[:, 1]]  # two items, one text: no pair
    bar = _bar("fine-tune text tower", cfg.text.steps, progress)
    text_losses = finetune_text(
        tower,
        lower,
        mask,
        text_pairs,
        item_prob,
        is_tail,
        cfg.text,
        cfg.seed,
        progress=lambda s, loss: (bar.update(1), bar.set_postfix(loss=f"{loss:.3f}")),
    )
    bar.close()
    pooled = pooled_all(tower, lower, mask)[torch.from_numpy(of_item)]
    del lower
    timings["text_finetune_s"] = time.perf_counter() - t
    log.info(
        "text tower: %d steps on %d co-purchase pairs in %.1f s",
        len(text_losses),
        len(pairs),
        timings["text_finetune_s"],
    )

    return tok, tower, pooled, pairs, text_losses
