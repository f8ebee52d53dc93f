"""Training step: write the run folder (``offline.model.run_layout``) -- everything but
run.json, which the orchestrator writes last."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from offline.model import run_layout as rl
from offline.model.steps.data import RunData
from offline.model.steps.text import TextFeatures
from offline.model.steps.towers import Towers
from offline.train_config import TrainConfig


def save_run(
    out: Path,
    data: RunData,
    text: TextFeatures,
    towers: Towers,
    ranker,
    item_vecs: np.ndarray,
    hybrid_parts,
    scorer,
    cfg: TrainConfig,
) -> None:
    import torch

    text.tower.bert.save_pretrained(str(out / rl.BERT_DIR))
    text.tok.save(str(out / rl.TOKENIZER))
    torch.save(
        {
            "proj": text.tower.proj.state_dict(),
            "user": towers.user.state_dict(),
            "user_kwargs": towers.user_kwargs,
            "dim": cfg.dim,
            "hidden": text.tower.hidden_size,
            "train_layers": cfg.text.train_layers,
        },
        out / rl.TOWERS,
    )
    torch.save(ranker.module, out / rl.RANKER_PT)
    data.stats.to_parquet(out / rl.ITEMS, index=False)
    np.save(out / rl.ITEM_EMBEDDINGS, item_vecs)
    np.save(out / rl.POOLED, text.pooled.numpy())
    if hybrid_parts is not None:
        from fulcrum.core import hybrid as hy

        hybrid_parts[0].save(out / hy.NEIGHBOURS_FILE)
        np.save(out / hy.TREND_FILE, hybrid_parts[1])
    save_samples(out / rl.SAMPLES, data.inter, data.stats, scorer, cfg)


def save_samples(path: Path, inter, stats, scorer, cfg: TrainConfig, n: int = 64) -> None:
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
