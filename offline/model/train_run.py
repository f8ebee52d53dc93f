"""One training run, end to end: prepared data folder + config -> run folder.

Steps: load the train split -> tokenize item texts (max_len) -> cache the frozen lower BERT
layers for every item -> fine-tune the top layers on co-purchased pairs -> pooled text features ->
fit user tower + item table on sliding-window examples, validated on the last
``retrieval.validation_days`` of train -> ranking head -> save.

The run folder (input of ``fulcrum export``)::

    run.json             config, metrics, timings, data fingerprint, dims, max lengths
    bert/                the fine-tuned BERT (save_pretrained) + tokenizer.json
    towers.pt            projection + user tower state dicts and their constructor arguments
    ranker.pt            the ranking head module (torch.save)
    text_pooled.npy      pooled BERT text features [N, H] (lets experiments skip the text tower)
    samples.npz          real inputs for the export's parity checks (user histories, rank rows)
    items.parquet        the bundle's item table (train statistics)
    item_embeddings.npy  hybrid item vectors [N, D] (row i <-> items.parquet row i)
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from fulcrum.core.text import ITEM_TEXT_TEMPLATE
from offline.stage_error import StageError
from offline.train_config import TrainConfig

log = logging.getLogger(__name__)
RUN_JSON = "run.json"
BERT_DIR = "bert"
TOWERS = "towers.pt"
RANKER_PT = "ranker.pt"
SAMPLES = "samples.npz"
POOLED = "text_pooled.npy"
_DAY = 86_400.0


@dataclass(frozen=True)
class RunSummary:
    run_dir: Path
    info: dict[str, Any]


def train_run(
    data_dir: str | Path,
    cfg: TrainConfig,
    out_dir: str | Path,
    progress: bool = True,
    validation_only: bool = False,
    text_cache: dict | None = None,
) -> RunSummary:
    """Train (and save) a run. ``validation_only`` stops after the validation scores (nothing is
    written; used by `fulcrum tune --target retrieval`); ``text_cache`` (a dict the caller keeps)
    reuses the text stage -- tokenizer, fine-tuned BERT, pooled text features -- between calls
    with the same text settings, data and seed, restoring the projection's post-text weights."""
    import copy

    import torch

    from offline.export.ranker_source import build_ranker
    from offline.model.examples import build_examples
    from offline.model.holdout import discovery_eval
    from offline.model.interactions import PURCHASE_CODE, item_stats, load_interactions
    from offline.model.item_table import ItemTable
    from offline.model.retrieval_fit import fit_retrieval
    from offline.model.scorer import TwoTowerScorer
    from offline.model.user_tower import UserTower

    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model_path = cfg.resolved_model_path()
    out = Path(out_dir)
    if not validation_only:
        out.mkdir(parents=True, exist_ok=True)

    inter = load_interactions(data_dir)
    stats = item_stats(inter)
    timings["load_s"] = time.perf_counter() - t_start
    log.info(
        "data: %d items, %d users, %d train events", inter.n_items, len(inter.user_ids), len(inter.ev_item)
    )

    # the validation slice: the last validation_days of train (time split) or each user's last
    # train basket (leave-last-out); everything before a user's cut is what the model fits on
    ev_user = inter.ev_user
    if cfg.retrieval.validation_days > 0:
        val_cut = inter.validation_cuts(cfg.retrieval.validation_days)
    else:
        val_cut = np.full(len(inter.user_ids), np.inf)
    fit_ev = inter.ev_time < val_cut[ev_user]
    purchases = inter.ev_type == PURCHASE_CODE
    counts = np.bincount(inter.ev_item[purchases & fit_ev], minlength=inter.n_items)
    cut_key = hashlib.sha256(val_cut.tobytes()).hexdigest()
    text_key = (str(model_path), cfg.text.model_dump_json(), cfg.dim, cfg.seed, cut_key, inter.fingerprint)
    cached = text_cache.get(text_key) if text_cache is not None else None
    if cached is not None:
        tok, tower, proj_state, pooled, pairs, text_losses, torch_rng, np_rng = cached
        tower.proj.load_state_dict(copy.deepcopy(proj_state))
        # the random state the text stage leaves behind, so that everything after it (tower
        # initialisation, dropout, sampling) draws exactly what an uncached run draws
        torch.set_rng_state(torch_rng.clone())
        rng.bit_generator.state = copy.deepcopy(np_rng)
        log.info("text stage reused from the cache (%d items)", len(pooled))
    else:
        from offline.model.text_stage import text_stage

        tok, tower, pooled, pairs, text_losses = text_stage(
            inter, cfg, model_path, counts, val_cut, rng, progress, timings
        )
        if text_cache is not None:
            text_cache[text_key] = (
                tok,
                tower,
                copy.deepcopy(tower.proj.state_dict()),
                pooled,
                pairs,
                text_losses,
                torch.get_rng_state(),
                copy.deepcopy(rng.bit_generator.state),
            )

    # ---- two towers --------------------------------------------------------------------------
    t = time.perf_counter()
    r = cfg.retrieval
    examples = build_examples(inter, -np.inf, val_cut, r.horizon_days, new_only=r.target == "next_new")
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
            f"has a purchase after an earlier event before their validation cut{window}",
            "prepare more history per user, or set a shorter retrieval.validation_days (0 = fit on all "
            "of train, no validation)",
        )
    log.info(
        "%d training examples over %d history cuts (sliding windows) in %.1f s",
        len(examples),
        examples.n_cuts,
        timings["examples_s"],
    )
    table = ItemTable(pooled, tower.proj, use_ids=r.id_embedding)
    if r.id_embedding and r.id_init == "svd":
        from offline.model.cooccurrence_init import svd_item_factors

        fit_p = purchases & fit_ev
        init = svd_item_factors(ev_user[fit_p], inter.ev_item[fit_p], len(inter.user_ids), inter.n_items,
                                cfg.dim, r.id_init_scale, cfg.seed)
        with torch.no_grad():
            table.ids.weight.copy_(torch.from_numpy(init))
    user_kwargs = {
        "dim": cfg.dim,
        "layers": cfg.user.layers,
        "heads": cfg.user.heads,
        "dropout": cfg.user.dropout,
    }
    user = UserTower(**user_kwargs)

    def encode_users(emb, typ, age, msk):
        with torch.no_grad():
            return user(*(torch.from_numpy(np.ascontiguousarray(a)) for a in (emb, typ, age, msk))).numpy()

    val_mask = purchases & ~fit_ev
    val_pairs = (ev_user[val_mask], inter.ev_item[val_mask])

    def validate() -> dict[str, float]:
        with torch.no_grad():
            vecs = table().numpy()
        return discovery_eval(inter, vecs, encode_users, val_cut, val_pairs, cfg.user.history_len)

    deadline = t_start + cfg.max_minutes * 60.0
    fit = fit_retrieval(
        inter,
        table,
        user,
        examples,
        cfg,
        validate if r.validation_days > 0 else None,
        deadline=deadline,
        progress=progress,
    )
    timings["retrieval_s"] = fit.seconds
    t = time.perf_counter()
    from offline.model.hybrid_fit import choose_on_validation

    hybrid_weights, hybrid_grid = choose_on_validation(
        cfg, inter, table, encode_users, purchases & fit_ev, val_cut, val_pairs
    )
    timings["hybrid_select_s"] = time.perf_counter() - t
    if validation_only:
        grid_best = max(hybrid_grid, key=lambda p: p["ndcg@10"]) if hybrid_grid else {}
        return RunSummary(
            out,
            {
                "metrics": {
                    "validation": fit.val[fit.best_epoch - 1] if fit.val and fit.best_epoch > 0 else {},
                    "validation_hybrid": grid_best,
                    "best_epoch": fit.best_epoch,
                },
                "hybrid": None
                if hybrid_weights is None
                else {"neighbour_weight": hybrid_weights.neighbour, "trend_weight": hybrid_weights.trend},
                "timings": timings,
                "stopped_early": fit.stopped_early,
            },
        )
    refit = None
    if r.refit_epochs > 0 and r.validation_days > 0:
        all_examples = build_examples(
            inter, -np.inf, np.inf, r.horizon_days, new_only=r.target == "next_new"
        )
        refit = fit_retrieval(
            inter,
            table,
            user,
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
    with torch.no_grad():
        # items without a purchase in the fit window keep the text-only vector
        seen = (
            counts > 0
            if refit is None
            else np.bincount(inter.ev_item[purchases], minlength=inter.n_items) > 0
        )
        table.ids.weight[torch.from_numpy(~seen)] = 0.0
        item_vecs = table().numpy().astype(np.float32)

    hybrid_parts = None
    if hybrid_weights is not None:
        from offline.model.hybrid_fit import hybrid_parts as parts_at

        hybrid_parts = parts_at(
            ev_user[purchases], inter.ev_item[purchases], inter.ev_time[purchases], inter.train_end,
            inter.n_items, r.hybrid.neighbours, r.hybrid.trend_days,
        )

    # ---- self-check on the test split (reported, never used for choices) ---------------------
    test_metrics: dict[str, float] = {}
    test_hybrid: dict[str, float] = {}
    if len(inter.test):
        index = {i: j for j, i in enumerate(inter.items["item_id"].tolist())}
        users = {u: j for j, u in enumerate(inter.user_ids.tolist())}
        tp = inter.test[inter.test["event_type"] == "PURCHASE"]
        keep = tp["user_id"].astype(str).isin(users) & tp["item_id"].astype(str).isin(index)
        tp = tp[keep]
        pairs_t = (
            tp["user_id"].astype(str).map(users).to_numpy(np.int64),
            tp["item_id"].astype(str).map(index).to_numpy(np.int64),
        )
        test_metrics = discovery_eval(
            inter, item_vecs, encode_users, inter.test_at, pairs_t, cfg.user.history_len
        )
        if hybrid_parts is not None and hybrid_weights is not None:
            from offline.model.hybrid_fit import bought_scores, trend_source

            trend = trend_source(
                inter, ev_user[purchases], inter.ev_item[purchases], inter.ev_time[purchases],
                r.hybrid.trend_days,
            )
            test_hybrid = discovery_eval(
                inter, item_vecs, encode_users, inter.test_at, pairs_t, cfg.user.history_len,
                adjust=bought_scores(hybrid_parts[0], trend, hybrid_weights),
            )

    # ---- ranking head ------------------------------------------------------------------------
    t = time.perf_counter()
    scorer = TwoTowerScorer(stats["item_id"].tolist(), item_vecs, user, cfg.user.history_len)
    # the head's validation window is the retrieval's unless the config names its own
    ranker_cfg = dict(cfg.ranker_config)
    if r.validation_days > 0:
        ranker_cfg = {"val_days": r.validation_days, **ranker_cfg}
    ranker = build_ranker(cfg.ranker, Path(data_dir), inter, stats, scorer, cfg.seed, ranker_cfg)
    timings["ranker_s"] = time.perf_counter() - t

    # ---- save --------------------------------------------------------------------------------
    tower.bert.save_pretrained(str(out / BERT_DIR))
    tok.save(str(out / BERT_DIR / "tokenizer.json"))
    torch.save(
        {
            "proj": tower.proj.state_dict(),
            "user": user.state_dict(),
            "user_kwargs": user_kwargs,
            "dim": cfg.dim,
            "hidden": tower.hidden_size,
            "train_layers": cfg.text.train_layers,
        },
        out / TOWERS,
    )
    torch.save(ranker.module, out / RANKER_PT)
    stats.to_parquet(out / "items.parquet", index=False)
    np.save(out / "item_embeddings.npy", item_vecs)
    np.save(out / POOLED, pooled.numpy())
    if hybrid_parts is not None:
        from fulcrum.core import hybrid as hy

        hybrid_parts[0].save(out / hy.NEIGHBOURS_FILE)
        np.save(out / hy.TREND_FILE, hybrid_parts[1])
    _save_samples(out / SAMPLES, inter, stats, scorer, cfg)
    timings["total_s"] = time.perf_counter() - t_start
    info = {
        "created_at": datetime.now(UTC).isoformat(),
        "config": cfg.model_dump(mode="json"),
        "model_path_name": model_path.name,
        "data_fingerprint": {"events_sha256": inter.fingerprint},
        "dim": cfg.dim,
        "max_lengths": {"item_text_tokens": cfg.text.max_len, "history_events": cfg.user.history_len},
        "text_template": ITEM_TEXT_TEMPLATE,
        "counts": {
            "items": inter.n_items,
            "users": len(inter.user_ids),
            "train_events": len(inter.ev_item),
            "examples": len(examples),
            "cuts": examples.n_cuts,
            "text_pairs": len(pairs),
        },
        "metrics": {
            "validation": fit.val[fit.best_epoch - 1] if fit.val and fit.best_epoch > 0 else {},
            "validation_per_epoch": fit.val,
            "test_selfcheck": test_metrics,
            "test_selfcheck_hybrid": test_hybrid,
            "train_loss_per_epoch": fit.losses,
            "refit_loss_per_epoch": refit.losses if refit is not None else [],
            "text_loss_first_last": [text_losses[0], text_losses[-1]] if text_losses else [],
            "best_epoch": fit.best_epoch,
            "ranker": ranker.metrics,
        },
        "hybrid": None
        if hybrid_weights is None
        else {
            "neighbour_weight": hybrid_weights.neighbour,
            "trend_weight": hybrid_weights.trend,
            "neighbours": r.hybrid.neighbours,
            "trend_days": r.hybrid.trend_days,
            "chosen_on": "validation"
            if hybrid_grid
            else "config defaults (validation switched off: retrieval.validation_days = 0)",
            "trend_zero": hybrid_parts[2] if hybrid_parts is not None else 0.0,
            "validation_grid": hybrid_grid,
        },
        "stopped_early": fit.stopped_early,
        "ranker": {"source": ranker.source, "note": ranker.note},
        "stages": run_stages(ranker, hybrid_weights, hybrid_grid, refit is not None),
        "training_cut": {
            "split": inter.split_kind,
            "train_end": datetime.fromtimestamp(inter.train_end, UTC).isoformat(),
            "last_train_event": datetime.fromtimestamp(float(inter.ev_time.max()), UTC).isoformat(),
        },
        "timings": timings,
        "item_embeddings": "hybrid: normalize(text vector + learned id residual) for items seen in "
        "training; text-only vector (= item_encoder.onnx output) otherwise",
    }
    (out / RUN_JSON).write_text(json.dumps(info, indent=2, default=str))
    return RunSummary(out, info)


def run_stages(ranker, hybrid_weights, hybrid_grid, refit: bool) -> dict[str, str]:
    """What each optional stage of the run did, in words (run.json, the manifest's
    ``metrics.stages`` -- which GetModelInfo returns -- and the report)."""
    heads = (ranker.metrics or {}).get("heads", {})
    return {
        "ranker": "off: " + ranker.note if ranker.source == "off" else f"trained ({ranker.note})",
        "ranker_purchase_head": str(heads.get("purchase", "trained")),
        "ranker_cancel_head": str(heads.get("cancel", "trained")),
        "hybrid": "off (config retrieval.hybrid.enabled: false)"
        if hybrid_weights is None
        else _hybrid_stage(hybrid_grid),
        "refit": "refit on all of train after validation" if refit else "no refit",
    }


def _hybrid_stage(grid: list[dict]) -> str:
    if not grid:
        return "config default weights (validation switched off)"
    best = max(p.get("ndcg@10", 0.0) for p in grid)
    if best <= 0.0:  # said, not hidden: a flat grid carries no information about the weights
        return "weights from validation, but every grid point scored NDCG@10 0 (no signal): smallest kept"
    return f"weights chosen on validation (best NDCG@10 {best:.4f} over {len(grid)} points)"


def _save_samples(path: Path, inter, stats, scorer, cfg: TrainConfig, n: int = 64) -> None:
    """Real user histories (as of the train cut-off) and real ranking rows for export checks."""
    from offline.export.ranker_source import rank_feature_samples
    from offline.model.examples import user_histories

    users, (items, types, age, mask) = user_histories(inter, inter.train_end, cfg.user.history_len)
    rng = np.random.default_rng(cfg.seed + 1)
    pick = rng.choice(len(users), size=min(n, len(users)), replace=False) if len(users) else np.zeros(0, int)
    feats, _, _ = rank_feature_samples(inter, stats, scorer, rng, n_users=n // 2)
    np.savez(
        path,
        hist_items=items[pick],
        hist_type=types[pick],
        hist_age=age[pick],
        hist_mask=mask[pick],
        rank_features=feats,
    )
