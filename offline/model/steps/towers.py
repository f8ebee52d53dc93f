"""Training step: the two towers.

``build_towers``: sliding-window training examples, the item table (text part + id residual,
optionally initialised from co-purchase SVD factors) and the user tower. ``fit_towers``: the fit
on those examples, validated on the validation slice. ``refit_towers``: a short refit on all of
train (``retrieval.refit_epochs``). ``final_item_vectors``: the catalogue vectors the bundle
ships (items without a purchase in the fitted window keep the text-only vector).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from offline.model.steps.data import RunData
from offline.model.steps.text import TextFeatures
from offline.stage_error import StageError
from offline.train_config import TrainConfig

log = logging.getLogger(__name__)
_DAY = 86_400.0


@dataclass(frozen=True)
class Towers:
    examples: Any  # offline.model.examples.Examples
    table: Any  # offline.model.item_table.ItemTable
    user: Any  # offline.model.user_tower.UserTower
    user_kwargs: dict[str, Any]  # the user tower's constructor arguments (saved with it)

    def encode_users(self, emb, typ, age, msk) -> np.ndarray:
        """User vectors of history batches (no grad; the tower's current weights)."""
        import torch

        with torch.no_grad():
            feeds = (torch.from_numpy(np.ascontiguousarray(a)) for a in (emb, typ, age, msk))
            return self.user(*feeds).numpy()


def build_towers(data: RunData, text: TextFeatures, cfg: TrainConfig, timings: dict[str, float]) -> Towers:
    import torch

    from offline.model.examples import build_examples
    from offline.model.item_table import ItemTable
    from offline.model.user_tower import UserTower

    inter, r = data.inter, cfg.retrieval
    t = time.perf_counter()
    examples = build_examples(
        inter, -np.inf, data.val_cut, r.horizon_days, r.target == "next_new", r.max_window_purchases,
        next_events(cfg),
    )
    timings["examples_s"] = time.perf_counter() - t
    if len(examples) == 0:
        span = (inter.train_end - float(inter.ev_time.min())) / _DAY
        window = (
            f" (the validation window is the last {r.validation_days:g} of the {span:.1f} days of train)"
            if inter.split_kind == "time" and r.validation_days > 0
            else ""
        )
        raise StageError(
            "retrieval",
            f"no training examples in {inter.n_items} items / {len(inter.user_ids)} users: no user "
            f"has a {'positive event' if next_events(cfg) else 'purchase'} after an earlier event "
            f"before their validation cut{window} (retrieval.targets: {r.targets})",
            "prepare more history per user, or set a shorter retrieval.validation_days (0 = fit on all "
            "of train, no validation)",
        )
    log.info(
        "%d training examples over %d history cuts (sliding windows, targets: %s) in %.1f s",
        len(examples),
        examples.n_cuts,
        r.targets,
        timings["examples_s"],
    )
    table = ItemTable(text.pooled, text.tower.proj, use_ids=r.id_embedding)
    if r.id_embedding and r.id_init == "svd":
        from offline.model.cooccurrence_init import svd_item_factors

        fit_p = data.history_events & data.fit_ev  # purchases, or every positive behaviour
        init = svd_item_factors(
            inter.ev_user[fit_p], inter.ev_item[fit_p], len(inter.user_ids), inter.n_items,
            cfg.dim, r.id_init_scale, cfg.seed,
        )
        with torch.no_grad():
            table.ids.weight.copy_(torch.from_numpy(init))
    user_kwargs = {
        "dim": cfg.dim,
        "layers": cfg.user.layers,
        "heads": cfg.user.heads,
        "dropout": cfg.user.dropout,
    }
    return Towers(examples, table, UserTower(**user_kwargs), user_kwargs)


def next_events(cfg: TrainConfig) -> int:
    """``build_examples``'s ``next_events`` for ``retrieval.targets`` (0 = purchase targets only)."""
    r = cfg.retrieval
    return r.next_events if r.targets == "interactions" else 0


def targets_stage(data: RunData, towers: Towers, cfg: TrainConfig) -> str:
    """What the towers learned from, in words (run.json's and the manifest's
    ``stages.training_targets``)."""
    from offline.model.validation_protocol import non_purchase_positives

    r, ex = cfg.retrieval, towers.examples
    counts = f"{len(ex)} examples over {ex.n_cuts} cuts"
    if ex.n_cuts > r.max_cuts_per_epoch > 0:
        counts += f", a sample of {r.max_cuts_per_epoch} cuts per epoch"
    window = f"the purchases of the next {r.horizon_days:g} days"
    if r.targets == "purchases":
        return f"purchases (retrieval.targets): a cut per purchase moment, targets {window} ({counts})"
    same = "" if non_purchase_positives(data.inter) else (
        "; the log holds no positive behaviour but purchases, so these are the purchase examples")
    return (f"interactions (retrieval.targets): a cut per positive-behaviour moment, targets the next "
            f"{r.next_events} positive event(s) and {window} ({counts}){same}")


def validation_scorer(data: RunData, towers: Towers, cfg: TrainConfig) -> Callable[[], dict[str, float]]:
    """Discovery metrics of the towers' current weights on the validation slice. With the hybrid
    on and ``retrieval.select_epoch_on: serving``, each epoch is also scored by the serving score
    (``hybrid_ndcg@10``: the hybrid at its best grid point), which then keeps the best epoch."""
    hybrid = None
    if cfg.retrieval.select_epoch_on == "serving" and cfg.retrieval.hybrid.enabled:
        from offline.model.hybrid_fit import HybridValidation

        src = data.neighbour_events
        hybrid = HybridValidation(
            cfg, data.inter, data.fit_purchases, data.val_cut, data.val_pairs, data.val_slice,
            None if src is None else src & data.fit_ev, data.neighbour_source, data.neighbour_model,
        )

    def validate() -> dict[str, float]:
        import torch

        from offline.model.holdout import slice_metrics

        with torch.no_grad():
            vecs = towers.table().numpy()
        if hybrid is not None:
            m = hybrid.epoch_metrics(vecs, towers.encode_users)
            towers_alone = {k[len("towers_"):]: v for k, v in m.items() if k.startswith("towers_")}
            return {
                "users": m["users"], **towers_alone, "hybrid_ndcg@10": m["ndcg@10"],
                "hybrid_neighbour_weight": m["neighbour_weight"], "hybrid_trend_weight": m["trend_weight"],
                **({"hybrid_repeat_weight": m["repeat_weight"]} if "repeat_weight" in m else {}),
            }
        return slice_metrics(data.val_slice, vecs, towers.encode_users)

    return validate


def fit_towers(
    data: RunData,
    towers: Towers,
    cfg: TrainConfig,
    deadline: float,
    progress: bool,
    timings: dict[str, float],
):
    """The fit on the training examples (best epoch on validation when there is a slice);
    returns its ``offline.model.retrieval_fit.FitHistory``."""
    from offline.model.retrieval_fit import fit_retrieval

    fit = fit_retrieval(
        data.inter,
        towers.table,
        towers.user,
        towers.examples,
        cfg,
        validation_scorer(data, towers, cfg) if cfg.retrieval.validation_days > 0 else None,
        deadline=deadline,
        progress=progress,
    )
    timings["retrieval_s"] = fit.seconds
    return fit


def refit_towers(
    data: RunData,
    towers: Towers,
    cfg: TrainConfig,
    deadline: float,
    progress: bool,
    timings: dict[str, float],
):
    """``retrieval.refit_epochs`` more epochs on the examples of all of train (validation
    included); None when there is no refit (no epochs, or no validation slice to add)."""
    r = cfg.retrieval
    if not (r.refit_epochs > 0 and r.validation_days > 0):
        return None
    from offline.model.examples import build_examples
    from offline.model.retrieval_fit import fit_retrieval

    all_examples = build_examples(
        data.inter, -np.inf, np.inf, r.horizon_days, r.target == "next_new", r.max_window_purchases,
        next_events(cfg),
    )
    refit = fit_retrieval(
        data.inter,
        towers.table,
        towers.user,
        all_examples,
        cfg,
        None,
        deadline=deadline,
        progress=progress,
        epochs=r.refit_epochs,
        lr=r.lr * r.refit_lr_scale,
    )
    timings["refit_s"] = refit.seconds
    log.info(
        "refit on all %d train examples: %d epochs in %.1f s",
        len(all_examples),
        r.refit_epochs,
        refit.seconds,
    )
    return refit


def final_item_vectors(data: RunData, towers: Towers, refitted: bool) -> np.ndarray:
    """The catalogue's item vectors [N, D] float32; items without a history event of the
    protocol (``RunData.history_events``: a purchase, or any positive behaviour on a
    multi-behaviour shop) in the fitted window (all of train after a refit) get their id residual
    zeroed: the text-only vector."""
    import torch

    inter = data.inter
    with torch.no_grad():
        known = data.history_events if refitted else data.history_events & data.fit_ev
        seen = np.bincount(inter.ev_item[known], minlength=inter.n_items) > 0
        towers.table.ids.weight[torch.from_numpy(~seen)] = 0.0
        return towers.table().numpy().astype(np.float32)
