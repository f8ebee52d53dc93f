"""Does each augmentation pay? Validation-only training runs with each one switched off.

Arms: the config as given, without sequence augmentation (``retrieval.seq_aug.enabled``), without
tail-item text augmentation (``text.aug.enabled``), and without both. Each arm is a real
``train_run(validation_only=True)`` scored on the validation slice (never the test split): the
towers' NDCG@10 and the hybrid score's (the serving score), coverage and tail share. Arms with the
same text settings share one text stage.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from offline.train_config import TrainConfig, config_from_dict

ARMS: tuple[tuple[str, bool, bool], ...] = (
    # (name, sequence augmentation on, text augmentation on)
    ("as configured", True, True),
    ("no sequence augmentation", False, True),
    ("no text augmentation", True, False),
    ("no augmentation", False, False),
)


def arm_config(base: TrainConfig, seq_on: bool, text_on: bool) -> TrainConfig:
    data = base.model_dump(mode="json")
    data["retrieval"]["seq_aug"]["enabled"] = bool(seq_on and base.retrieval.seq_aug.enabled)
    data["text"]["aug"]["enabled"] = bool(text_on and base.text.aug.enabled)
    return config_from_dict(data)


def run_augment_ablation(
    data_dir: str | Path,
    base: TrainConfig,
    train: Callable[..., Any] | None = None,
    on_arm: Callable[[str], None] = lambda name: None,
) -> list[dict[str, Any]]:
    if base.retrieval.validation_days <= 0:
        raise ValueError("retrieval.validation_days: must be > 0 (arms are scored on it)")
    if train is None:
        from offline.model.train_run import train_run as train
    cache: dict = {}
    rows = []
    for name, seq_on, text_on in ARMS:
        cfg = arm_config(base, seq_on, text_on)
        on_arm(name)
        t = time.perf_counter()
        info = train(data_dir, cfg, Path("."), progress=False, validation_only=True, text_cache=cache).info
        val = info["metrics"].get("validation") or {}
        hyb = info["metrics"].get("validation_hybrid") or {}
        rows.append(
            {
                "arm": name,
                "sequence_augmentation": cfg.retrieval.seq_aug.enabled,
                "text_augmentation": cfg.text.aug.enabled,
                "val_ndcg@10": val.get("ndcg@10"),
                "val_recall@10": val.get("recall@10"),
                "val_tail_share@10": val.get("tail_share@10"),
                "val_coverage@10": val.get("coverage@10"),
                "val_hybrid_ndcg@10": hyb.get("ndcg@10"),
                "best_epoch": info["metrics"].get("best_epoch"),
                "seconds": time.perf_counter() - t,
            }
        )
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    def f(v: Any) -> str:
        return "-" if v is None else f"{v:.4f}"

    base = rows[0]["val_ndcg@10"] or 0.0
    lines = [
        "| arm | seq aug | text aug | val NDCG@10 (towers) | vs configured | val NDCG@10 (hybrid) "
        "| val tail share@10 | val coverage@10 | seconds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = f"{(r['val_ndcg@10'] or 0.0) / base:.3f}x" if base else "-"
        lines.append(
            f"| {r['arm']} | {'on' if r['sequence_augmentation'] else 'off'} | "
            f"{'on' if r['text_augmentation'] else 'off'} | {f(r['val_ndcg@10'])} | {ratio} | "
            f"{f(r['val_hybrid_ndcg@10'])} | {f(r['val_tail_share@10'])} | {f(r['val_coverage@10'])} | "
            f"{r['seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"
