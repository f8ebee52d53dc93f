"""Time of one two-tower training step against the catalogue's size (same examples, same batch).

    python -m benchmarks.scale_train_data --items 10000 --events 60000 --out BASE
    python benchmarks/train_step_scale.py --data BASE --items 1000000 --work W --out W/1m.json

The events of ``--data`` are kept; the catalogue is padded with items nobody bought up to
``--items``, so every size trains on the same examples with the same batches and only the
catalogue grows. The item table gets random pooled text features (no text encoding: this times
the step, not the text stage). One epoch of ``fit_retrieval`` with the default training config
(no validation); each optimiser step's end is stamped, and the report gives the median and mean
time between consecutive steps (the set-up before the first step apart: its own figure;
``--max-steps`` stops early). Run as
a file, not a module, so ``PYTHONPATH`` can point at another tree's ``offline`` (A/B of two
versions of the training code).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd


def padded_folder(data: Path, n_items: int, work: Path) -> Path:
    """A copy of the prepared folder ``data`` whose catalogue has ``n_items`` items."""
    out = work / f"catalogue-{n_items}"
    out.mkdir(parents=True, exist_ok=True)
    items = pd.read_parquet(data / "items.parquet")
    extra = n_items - len(items)
    if extra > 0:
        pad = pd.DataFrame({
            "item_id": [f"P{j:08d}" for j in range(extra)],
            "text": "unsold item",
            "price": 1.0,
            "first_seen": items["first_seen"].iloc[0],
        })
        items = pd.concat([items, pad], ignore_index=True)
    items.to_parquet(out / "items.parquet", index=False)
    for name in ("events.parquet", "split.json"):
        target = out / name
        if target.is_symlink() or target.exists():
            target.unlink()
        target.symlink_to((data / name).resolve())
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="prepared data folder (benchmarks.scale_train_data)")
    p.add_argument("--items", type=int, required=True, help="catalogue size (padded with unsold items)")
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True, help="JSON written with the figures")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--label", default="")
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0 = the epoch)")
    p.add_argument("--id-updates", default=None, choices=["dense", "rows"],
                   help="retrieval.id_updates (trees that have it); default: the config's default")
    a = p.parse_args(argv)

    import torch

    from offline.model.examples import build_examples
    from offline.model.interactions import load_interactions
    from offline.model.item_table import ItemTable
    from offline.model.retrieval_fit import fit_retrieval
    from offline.model.user_tower import UserTower
    from offline.train_config import TrainConfig

    torch.set_num_threads(a.threads)
    folder = padded_folder(Path(a.data), a.items, Path(a.work))
    inter = load_interactions(folder)
    cfg = TrainConfig() if a.id_updates is None else TrainConfig(retrieval={"id_updates": a.id_updates})
    r = cfg.retrieval
    examples = build_examples(
        inter, -np.inf, np.inf, r.horizon_days, r.target == "next_new", r.max_window_purchases
    )
    gen = torch.Generator().manual_seed(0)
    pooled = torch.randn((inter.n_items, 384), generator=gen)
    torch.manual_seed(0)
    table = ItemTable(pooled, torch.nn.Linear(384, cfg.dim), use_ids=True)
    user = UserTower(dim=cfg.dim, layers=cfg.user.layers, heads=cfg.user.heads, dropout=cfg.user.dropout)

    stamps: list[float] = []
    step = torch.optim.AdamW.step

    class Enough(Exception):
        pass

    def stamped(self, *args, **kwargs):
        out = step(self, *args, **kwargs)
        stamps.append(time.perf_counter())
        if a.max_steps and len(stamps) >= a.max_steps:
            raise Enough
        return out

    torch.optim.AdamW.step = stamped
    load_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    t0 = time.perf_counter()
    try:
        losses = fit_retrieval(inter, table, user, examples, cfg, None, epochs=1).losses
    except Enough:
        losses = []
    total = time.perf_counter() - t0
    gaps = np.diff(stamps)
    res = {
        "label": a.label,
        "items": inter.n_items,
        "examples": len(examples),
        "cuts": int(examples.n_cuts),
        "steps": len(stamps),
        "step_median_s": float(np.median(gaps)) if len(gaps) else None,
        "step_mean_s": float(gaps.mean()) if len(gaps) else None,
        "before_first_step_s": float(stamps[0] - t0) if stamps else None,
        "fit_s": total,
        "loss": losses,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "uptime_before": load_before,
        "uptime_after": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
    }
    Path(a.out).write_text(json.dumps(res, indent=2))
    print(json.dumps({k: v for k, v in res.items() if k != "loss"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
