"""Fitting the two towers: user tower + item table with sampled softmax and logQ correction.

Each epoch shuffles the cuts (histories); a step takes about ``batch_size`` targets' worth of
cuts, encodes each history ONCE and scores all its targets (``offline.model.train_step``): it
computes the item vectors of the candidates and of the history events (a projection of the cached
pooled text features plus id residuals; items learn from both sides), encodes the histories with
the user tower and applies the sampled softmax of :mod:`offline.model.sampled_softmax`. With
sampled negatives nothing in a step is the size of the catalogue but the id table's dense
gradient and optimiser update, and with ``retrieval.id_updates: rows`` not those either
(``retrieval.negatives: full`` computes the whole table). After every epoch the
validation callback scores the model; the best epoch's weights are kept. A wall-clock deadline
stops training early (reported, never silent).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from offline.model.augment import augment_sequences
from offline.model.cut_trend import cut_trends
from offline.model.examples import Examples, history_batch
from offline.model.interactions import Interactions
from offline.model.item_table import ItemTable
from offline.model.row_adamw import RowAdamW, clip_grad_norm
from offline.model.train_step import step_loss
from offline.model.user_tower import UserTower
from offline.train_config import TrainConfig

log = logging.getLogger(__name__)


@dataclass
class FitHistory:
    losses: list[float] = field(default_factory=list)
    val: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: str | None = None
    seconds: float = 0.0


#: the largest logit the trend prior adds at the start of training (s0 * max |trend|)
TREND_INIT_LOGIT = 4.0


def trend_scale_init(trend_rows: torch.Tensor | float) -> float:
    """The learned trend scale's start: 1, or less when the prior reaches past
    ``TREND_INIT_LOGIT`` (a heavy-tailed shop's standardised prior), so the prior starts as a
    nudge of at most a few logits next to cosine / temperature, never as the whole score; the
    scale then learns its own value."""
    if isinstance(trend_rows, float):  # max |prior| given (offline.model.cut_trend.CutTrends.max_abs)
        top = trend_rows
    else:
        top = float(trend_rows.abs().max()) if trend_rows.numel() else 0.0
    return 1.0 if top <= TREND_INIT_LOGIT else TREND_INIT_LOGIT / top


def target_prob(examples: Examples, n_items: int) -> np.ndarray:
    """Each item's share of the training targets (the sampling distribution of in-batch items)."""
    counts = np.bincount(examples.target, minlength=n_items).astype(np.float64)
    return counts / max(1.0, counts.sum())


def epoch_cuts(examples: Examples, max_cuts: int) -> int:
    """Cuts one epoch trains on: all of them, or ``retrieval.max_cuts_per_epoch`` when that is
    smaller (and > 0)."""
    return examples.n_cuts if max_cuts <= 0 else min(examples.n_cuts, max_cuts)


def fit_retrieval(
    inter: Interactions,
    table: ItemTable,
    user: UserTower,
    examples: Examples,
    cfg: TrainConfig,
    validate: Callable[[], dict[str, float]] | None = None,
    deadline: float | None = None,
    progress: bool = False,
    epochs: int | None = None,
    lr: float | None = None,
) -> FitHistory:
    """Train in place; ``epochs``/``lr`` override the config (used by the refit pass)."""
    r = cfg.retrieval
    n_epochs = r.epochs if epochs is None else epochs
    max_lr = r.lr if lr is None else lr
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    hist = FitHistory()
    if len(examples) == 0:
        hist.stopped_early = "no training examples"
        return hist
    item_prob = torch.as_tensor(target_prob(examples, inter.n_items), dtype=torch.float32)
    trends = cut_day = None
    if r.trend_in_training:
        trends, cut_day = cut_trends(inter, examples, r.hybrid.trend_days)
        if not hasattr(table, "trend_scale"):  # kept on the table: best-epoch restore and refit keep it
            table.trend_scale = torch.nn.Parameter(torch.tensor(trend_scale_init(trends.max_abs())))
    params = list(user.parameters()) + [p for p in table.parameters() if p.requires_grad]
    # retrieval.id_updates: rows -> the id table's row-sparse gradients update those rows only
    opt = (RowAdamW if r.id_updates == "rows" else torch.optim.AdamW)(
        params, lr=max_lr, weight_decay=r.weight_decay
    )
    cuts_per_step = max(1, int(round(r.batch_size * examples.n_cuts / max(1, len(examples)))))
    cuts_per_epoch = epoch_cuts(examples, r.max_cuts_per_epoch)
    steps_per_epoch = max(1, int(np.ceil(cuts_per_epoch / cuts_per_step)))
    if cuts_per_epoch < examples.n_cuts:
        log.info(
            "each epoch trains on a fresh sample of %d of the %d cuts (%d examples; "
            "retrieval.max_cuts_per_epoch)", cuts_per_epoch, examples.n_cuts, len(examples),
        )
    sched = torch.optim.lr_scheduler.OneCycleLR(
        # OneCycleLR divides by zero on a one-step schedule (a refit of one epoch on fewer
        # examples than a batch): two steps' schedule, of which the first is used
        opt, max_lr=max_lr, total_steps=max(2, steps_per_epoch * n_epochs), pct_start=0.1
    )
    best_score, best_state = -np.inf, None
    t0 = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps_per_epoch * n_epochs, desc="two towers", unit="step")
    for epoch in range(n_epochs):
        table.train()
        user.train()
        order = rng.permutation(examples.n_cuts)[:cuts_per_epoch]  # all, or a fresh sample
        ep_loss = []
        for s in range(0, len(order), cuts_per_step):
            c = order[s : s + cuts_per_step]
            items, types, age, mask = history_batch(
                inter, examples.user[c], examples.hist_end[c], examples.time[c], cfg.user.history_len
            )
            types, age, mask = augment_sequences(rng, types, age, mask, r.seq_aug)
            sizes = examples.ptr[c + 1] - examples.ptr[c]
            tgt_idx = np.concatenate([np.arange(examples.ptr[x], examples.ptr[x + 1]) for x in c])
            row = np.repeat(np.arange(len(c)), sizes)
            target = torch.from_numpy(examples.target[tgt_idx])
            loss = step_loss(
                table, user, r, items, types, age, mask, row, target, item_prob, gen,
                trends, None if cut_day is None else cut_day[c][row],
            )
            opt.zero_grad()
            loss.backward()
            clip_grad_norm(params, 5.0)
            opt.step()
            sched.step()
            ep_loss.append(loss.item())
            if bar is not None:
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{ep_loss[-1]:.3f}")
        hist.losses.append(float(np.mean(ep_loss)))
        if validate is not None:
            table.eval()
            user.eval()
            m = validate()
            m["epoch"] = float(epoch + 1)
            m["loss"] = hist.losses[-1]
            hist.val.append(m)
            msg = f"epoch {epoch + 1}: loss {hist.losses[-1]:.4f}  val ndcg@10 {m.get('ndcg@10', 0):.4f}"
            if "hybrid_ndcg@10" in m:
                msg += f" (serving score {m['hybrid_ndcg@10']:.4f})"
            if bar is not None:
                bar.write(msg)
            else:
                log.info("%s (%.0f s)", msg, time.perf_counter() - t0)
            # the serving score when the validation gives it (retrieval.select_epoch_on)
            score = m.get("hybrid_ndcg@10", m.get("ndcg@10", 0.0))
            if score > best_score:
                best_score, hist.best_epoch = score, epoch + 1
                best_state = (copy.deepcopy(table.state_dict()), copy.deepcopy(user.state_dict()))
        else:
            hist.best_epoch = epoch + 1
            log.info("epoch %d: loss %.4f (%.0f s)", epoch + 1, hist.losses[-1], time.perf_counter() - t0)
        if deadline is not None and time.perf_counter() > deadline and epoch + 1 < n_epochs:
            hist.stopped_early = f"time budget reached after epoch {epoch + 1} of {n_epochs}"
            break
    if bar is not None:
        bar.close()
    if best_state is not None:
        table.load_state_dict(best_state[0])
        user.load_state_dict(best_state[1])
    table.eval()
    user.eval()
    hist.seconds = time.perf_counter() - t0
    return hist
