"""Partial fine-tuning of the text tower on co-purchased item pairs.

Two items bought in the same basket should embed close together. The loss is a symmetric
in-batch softmax (InfoNCE) over item texts with logQ correction by item frequency, so popular
items are not pushed into every neighbourhood. Only the top ``text.train_layers`` BERT layers and
the projection learn; the lower layers' states come from the once-computed cache. Tail items'
states get light text augmentation (offline.model.augment).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from offline.model.augment import augment_text_states
from offline.model.interactions import PURCHASE_CODE, Interactions, per_event
from offline.model.text_tower import TextTower
from offline.train_config import TextConfig


def basket_pairs(
    inter: Interactions, t_hi: float | np.ndarray, rng: np.random.Generator, per_basket: int = 4,
    max_pairs: int = 400_000,
) -> np.ndarray:
    """[P, 2] item index pairs bought together (same user, same timestamp) before ``t_hi`` (one
    time, or one per user [U])."""
    keep = (inter.ev_type == PURCHASE_CODE) & (inter.ev_time < per_event(inter, t_hi))
    ev_user = np.repeat(np.arange(len(inter.user_ids)), np.diff(inter.user_start))
    items, users, times = inter.ev_item[keep], ev_user[keep], inter.ev_time[keep]
    if len(items) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    key_change = np.flatnonzero((np.diff(users) != 0) | (np.diff(times) != 0)) + 1
    bounds = np.concatenate([[0], key_change, [len(items)]])
    out = []
    for s, e in zip(bounds[:-1], bounds[1:], strict=True):
        basket = np.unique(items[s:e])
        if len(basket) < 2:
            continue
        a = rng.choice(basket, size=min(per_basket, len(basket)), replace=False)
        for x in a:
            y = basket[rng.integers(0, len(basket))]
            if y != x:
                out.append((x, y))
    pairs = np.asarray(out, dtype=np.int64).reshape(-1, 2)
    if len(pairs) > max_pairs:
        pairs = pairs[rng.choice(len(pairs), max_pairs, replace=False)]
    return pairs


def pair_draws(n_pairs: int, cfg: TextConfig, seed: int) -> list[np.ndarray]:
    """The pair indices each fine-tuning step draws (``cfg.steps`` x ``cfg.batch_size``): known
    before the fine-tuning, so the text stage caches the lower layers of those items only."""
    if cfg.steps == 0 or n_pairs == 0:
        return []
    rng = np.random.default_rng(seed)
    return [rng.integers(0, n_pairs, cfg.batch_size) for _ in range(cfg.steps)]


def finetune_text(
    tower: TextTower,
    lower: torch.Tensor,
    mask: np.ndarray,
    pairs: np.ndarray,
    item_prob: np.ndarray,
    is_tail: np.ndarray,
    cfg: TextConfig,
    seed: int,
    progress: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train in place; returns the loss per step."""
    if cfg.steps == 0 or len(pairs) == 0:
        return []
    params = [p for p in tower.bert.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params or [torch.zeros(1, requires_grad=True)], lr=cfg.lr, weight_decay=0.01)
    head_lr = torch.optim.AdamW(tower.proj.parameters(), lr=cfg.lr * 20)
    gen = torch.Generator().manual_seed(seed)
    m_all = torch.from_numpy(mask)
    logq = torch.log(torch.as_tensor(item_prob, dtype=torch.float32).clamp(min=1e-9) * cfg.batch_size)
    tail = torch.from_numpy(is_tail)
    losses: list[float] = []
    tower.train()
    for step, drawn in enumerate(pair_draws(len(pairs), cfg, seed)):
        b = pairs[drawn]
        a_idx, p_idx = torch.from_numpy(b[:, 0]), torch.from_numpy(b[:, 1])
        idx = torch.cat([a_idx, p_idx])
        h, m = augment_text_states(gen, lower[idx], m_all[idx], tail[idx], cfg.aug)
        v = tower.project(tower.upper(h, m))
        va, vp = v[: len(a_idx)], v[len(a_idx) :]
        logits = va @ vp.T / cfg.temperature
        same = p_idx[None, :] == p_idx[:, None]
        eye = torch.eye(len(p_idx), dtype=torch.bool)
        logits = logits - logq[p_idx][None, :]
        logits = logits.masked_fill(same & ~eye, -1e4)
        labels = torch.arange(len(a_idx))
        loss = 0.5 * (
            nn.functional.cross_entropy(logits, labels)
            + nn.functional.cross_entropy(
                (va @ vp.T / cfg.temperature - logq[a_idx][:, None]).T.masked_fill(
                    (a_idx[None, :] == a_idx[:, None]) & ~eye, -1e4
                ),
                labels,
            )
        )
        opt.zero_grad()
        head_lr.zero_grad()
        loss.backward()
        opt.step()
        head_lr.step()
        losses.append(loss.item())
        if progress is not None:
            progress(step + 1, losses[-1])
    tower.eval()
    return losses
