"""Training step: what run.json says -- config, counts, metrics, the hybrid block, what each
optional stage did, the training cut and timings (and the short form a validation-only run
returns)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fulcrum.core.text import ITEM_TEXT_TEMPLATE
from offline.model.steps.data import RunData
from offline.model.steps.hybrid import HybridChoice
from offline.model.steps.selfcheck import SelfCheck
from offline.model.steps.text import TextFeatures
from offline.model.steps.towers import Towers, targets_stage
from offline.train_config import TrainConfig


def _best_validation(fit) -> dict[str, float]:
    return fit.val[fit.best_epoch - 1] if fit.val and fit.best_epoch > 0 else {}


def validation_info(fit, hybrid: HybridChoice, timings: dict[str, float], data: RunData) -> dict[str, Any]:
    """The summary of a ``validation_only`` run (`fulcrum tune --target retrieval` scores it)."""
    return {
        "metrics": {
            "validation": _best_validation(fit),
            "validation_hybrid": hybrid.best,
            "best_epoch": fit.best_epoch,
        },
        "hybrid": None
        if hybrid.weights is None
        else {"neighbour_weight": hybrid.weights.neighbour, "trend_weight": hybrid.weights.trend,
              **({"repeat_weight": hybrid.weights.repeat, **hybrid.weights.repeat_shape.manifest_fields()}
                 if hybrid.weights.repeat > 0 else {}),
              **({"neighbour_model": data.neighbour_choice.record()} if data.neighbour_choice else {})},
        "timings": timings,
        "stopped_early": fit.stopped_early,
        "validation": validation_block(data),
    }


def validation_block(data: RunData) -> dict[str, Any]:
    """run.json's (and the manifest's ``metrics.validation_protocol``) record of the protocol the
    validation slice and the test self-check were scored with, and why."""
    sl = data.val_slice
    return {**data.protocol.as_dict(), "users_scored": len(sl.warm) if sl is not None else 0}


def validation_stage(data: RunData) -> str:
    if data.val_slice is None:
        return "off (retrieval.validation_days: 0)"
    return f"{data.protocol.name} protocol, {len(data.val_slice.warm)} users ({data.protocol.reason})"


def run_info(
    cfg: TrainConfig,
    model_path: Path,
    data: RunData,
    text: TextFeatures,
    towers: Towers,
    fit,
    refit,
    hybrid: HybridChoice,
    hybrid_parts,
    selfcheck: SelfCheck,
    ranker,
    timings: dict[str, float],
) -> dict[str, Any]:
    inter, r = data.inter, cfg.retrieval
    weights, grid = hybrid.weights, hybrid.grid
    return {
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
            "examples": len(towers.examples),
            "cuts": towers.examples.n_cuts,
            "text_pairs": len(text.pairs),
        },
        "metrics": {
            "validation": _best_validation(fit),
            "validation_protocol": validation_block(data),
            "validation_per_epoch": fit.val,
            "test_selfcheck": selfcheck.towers,
            "test_selfcheck_hybrid": selfcheck.hybrid,
            "train_loss_per_epoch": fit.losses,
            "refit_loss_per_epoch": refit.losses if refit is not None else [],
            "text_loss_first_last": [text.losses[0], text.losses[-1]] if text.losses else [],
            "best_epoch": fit.best_epoch,
            "ranker": ranker.metrics,
        },
        "hybrid": None
        if weights is None
        else {
            "neighbour_weight": weights.neighbour,
            "trend_weight": weights.trend,
            "neighbours": r.hybrid.neighbours,
            "trend_days": r.hybrid.trend_days,
            "neighbour_source": data.neighbour_source,
            # which item-item model built the neighbour table (serving reads only the table)
            **({"neighbour_model": data.neighbour_choice.record()} if data.neighbour_choice else {}),
            # the repeat term (fulcrum/core/hybrid.py) exists under the interactions source only:
            # a purchase-only shop's manifest reads as before
            **({"repeat_weight": weights.repeat, **weights.repeat_shape.manifest_fields()}
               if data.neighbour_source != "purchases" else {}),
            "chosen_on": "validation"
            if grid
            else "config defaults (validation switched off: retrieval.validation_days = 0)",
            "trend_zero": hybrid_parts[2] if hybrid_parts is not None else 0.0,
            "validation_grid": grid,
        },
        "stopped_early": fit.stopped_early,
        "ranker": {"source": ranker.source, "note": ranker.note},
        "validation": validation_block(data),
        "stages": {
            **run_stages(ranker, weights, grid, refit is not None),
            **({"hybrid_neighbours": _neighbour_stage(data.neighbour_choice)}
               if data.neighbour_choice else {}),
            "validation": validation_stage(data),
            "training_targets": targets_stage(data, towers, cfg),
        },
        "training_cut": {
            "split": inter.split_kind,
            "train_end": datetime.fromtimestamp(inter.train_end, UTC).isoformat(),
            "last_train_event": datetime.fromtimestamp(float(inter.ev_time.max()), UTC).isoformat(),
        },
        "timings": timings,
        "item_embeddings": "hybrid: normalize(text vector + learned id residual) for items seen in "
        "training; text-only vector (= item_encoder.onnx output) otherwise",
    }


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


def _neighbour_stage(choice) -> str:
    """The neighbour model in words (offline.model.neighbour_choice.NeighbourChoice)."""
    skipped = f"; skipped: {'; '.join(choice.skipped)}" if choice.skipped else ""
    return f"{choice.model.label()}, {choice.chosen_on} ({len(choice.points)} candidates scored){skipped}"


def _hybrid_stage(grid: list[dict]) -> str:
    if not grid:
        return "config default weights (validation switched off)"
    best = max(p.get("ndcg@10", 0.0) for p in grid)
    if best <= 0.0:  # said, not hidden: a flat grid carries no information about the weights
        return "weights from validation, but every grid point scored NDCG@10 0 (no signal): smallest kept"
    return f"weights chosen on validation (best NDCG@10 {best:.4f} over {len(grid)} points)"
