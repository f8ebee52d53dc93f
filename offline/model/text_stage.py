"""The text stage of a training run: the pretrained BERT over item texts -> pooled features.

Tokenize every item text (``fulcrum.core.text``), run the frozen lower layers once per distinct
input (``offline.model.text_dedupe``: a catalogue with repeated texts encodes each once), caching
their output for the texts the fine-tuning draws only, fine-tune the top ``text.train_layers``
contrastively on co-purchased pairs (tail items get light text augmentation), then pool every
item through the lower layers (or their cache) and the fine-tuned top, a batch at a time: memory
stays one batch of states whatever the catalogue (a full cache is N x len x 384 floats, 37 GB
at a million items).
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
    from offline.model.text_finetune import basket_pairs, finetune_text, pair_draws
    from offline.model.text_tower import (
        TextTower,
        cache_lower,
        load_bert,
        load_tokenizer,
        pooled_streamed,
        tokenize,
    )

    t = time.perf_counter()
    tok = load_tokenizer(model_path, cfg.text.max_len)
    ids, mask = tokenize(tok, [render_item_text(x) for x in inter.item_texts])
    # each distinct input once (offline.model.text_dedupe); `of_item` maps items to it
    first, of_item = distinct_rows(ids, mask)
    ids, mask = ids[first], mask[first]
    tower = TextTower(load_bert(model_path), cfg.dim, cfg.text.train_layers)

    # the fine-tuning's units are the distinct texts: purchases and pairs are summed onto them
    text_counts = np.bincount(of_item, weights=counts, minlength=len(first))
    item_prob = text_counts / max(1.0, text_counts.sum())
    is_tail = (
        text_counts <= np.quantile(text_counts[text_counts > 0], cfg.text.aug.tail_quantile)
        if (text_counts > 0).any()
        else np.ones(len(first), dtype=bool)
    )
    pairs = basket_pairs(inter, val_cut, rng)  # co-purchases before each user's validation cut
    text_pairs = of_item[pairs] if len(pairs) else pairs
    text_pairs = text_pairs[text_pairs[:, 0] != text_pairs[:, 1]]  # two items, one text: no pair
    # the frozen lower layers are cached for the texts the fine-tuning draws only (at most
    # steps x 2 x batch of them); every other text goes through them once, in the pooling pass
    draws = pair_draws(len(text_pairs), cfg.text, cfg.seed)
    used = np.unique(text_pairs[np.concatenate(draws)]) if draws else np.zeros(0, dtype=np.int64)
    bar = _bar("cache lower layers", len(used), progress)
    lower = cache_lower(tower, ids[used], mask[used], progress=lambda d, n: bar.update(d - bar.n))
    bar.close()
    timings["cache_s"] = time.perf_counter() - t
    log.info(
        "cached lower BERT layers of the %d texts the fine-tuning draws (of %d distinct texts, %d "
        "items; len %d) in %.1f s",
        len(used),
        len(ids),
        len(of_item),
        ids.shape[1],
        timings["cache_s"],
    )

    t = time.perf_counter()
    compact = np.full(len(first), -1, dtype=np.int64)
    compact[used] = np.arange(len(used))
    bar = _bar("fine-tune text tower", cfg.text.steps, progress)
    text_losses = finetune_text(
        tower,
        lower,
        mask[used],
        compact[text_pairs] if len(used) else text_pairs,
        item_prob[used],
        is_tail[used],
        cfg.text,
        cfg.seed,
        progress=lambda s, loss: (bar.update(1), bar.set_postfix(loss=f"{loss:.3f}")),
    )
    bar.close()
    timings["text_finetune_s"] = time.perf_counter() - t
    log.info(
        "text tower: %d steps on %d co-purchase pairs in %.1f s",
        len(text_losses),
        len(pairs),
        timings["text_finetune_s"],
    )
    t = time.perf_counter()
    bar = _bar("pool item texts", len(ids), progress)
    pooled = pooled_streamed(
        tower, ids, mask, used, lower, progress=lambda d, n: bar.update(d - bar.n)
    )[torch.from_numpy(of_item)]
    bar.close()
    del lower
    timings["text_pool_s"] = time.perf_counter() - t
    log.info("pooled %d distinct texts through the text tower in %.1f s (%.0f texts/s)",
             len(ids), timings["text_pool_s"], len(ids) / max(timings["text_pool_s"], 1e-9))

    return tok, tower, pooled, pairs, text_losses
