"""One training run, end to end: prepared data folder + config -> run folder
(``offline.model.run_layout``, the input of ``fulcrum export``).

``train_run`` only orders the named steps of ``offline.model.steps``:

1. ``data``: load the train split, cut the validation slice (the last
   ``retrieval.validation_days`` of train, or each user's last basket on leave-last-out).
2. ``text``: tokenize item texts (max_len), cache the frozen lower BERT layers, fine-tune the top
   layers on co-purchased pairs, pool (or reuse all of that from the caller's ``text_cache``).
3. ``towers``: sliding-window examples, item table + user tower; fit validated on the slice.
4. ``hybrid``: the hybrid score's neighbour model (chosen on validation right after ``data``,
   before the towers) and its weights on validation (``validation_only`` stops here).
5. refit on all of train, final item vectors, hybrid parts over all of train.
6. ``selfcheck`` on the test split (reported only), ``ranker`` head, ``save``, run.json (``info``).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from offline.model.run_layout import RUN_JSON
from offline.train_config import TrainConfig

log = logging.getLogger(__name__)


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
    import torch

    from offline.model.steps import towers as tw
    from offline.model.steps.data import prepare_data
    from offline.model.steps.hybrid import choose_hybrid, choose_neighbours, hybrid_parts_at_train_end
    from offline.model.steps.info import run_info, validation_info
    from offline.model.steps.ranker import fit_ranker
    from offline.model.steps.save import save_run
    from offline.model.steps.selfcheck import selfcheck_on_test
    from offline.model.steps.text import text_features

    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model_path = cfg.resolved_model_path()
    deadline = t_start + cfg.max_minutes * 60.0
    out = Path(out_dir)
    if not validation_only:
        out.mkdir(parents=True, exist_ok=True)

    data = choose_neighbours(prepare_data(data_dir, cfg, t_start, timings), cfg, timings)
    text = text_features(data, cfg, model_path, rng, progress, timings, text_cache)
    towers = tw.build_towers(data, text, cfg, timings)
    fit = tw.fit_towers(data, towers, cfg, deadline, progress, timings)
    hybrid = choose_hybrid(data, towers, cfg, timings)
    if validation_only:
        return RunSummary(out, validation_info(fit, hybrid, timings, data))

    refit = tw.refit_towers(data, towers, cfg, deadline, progress, timings)
    item_vecs = tw.final_item_vectors(data, towers, refitted=refit is not None)
    hybrid_parts = hybrid_parts_at_train_end(data, cfg, hybrid)
    selfcheck = selfcheck_on_test(data, item_vecs, towers, cfg, hybrid, hybrid_parts)
    scorer, ranker = fit_ranker(Path(data_dir), data, item_vecs, towers, cfg, timings)
    save_run(out, data, text, towers, ranker, item_vecs, hybrid_parts, scorer, cfg)
    timings["total_s"] = time.perf_counter() - t_start
    info = run_info(
        cfg, model_path, data, text, towers, fit, refit, hybrid, hybrid_parts, selfcheck, ranker, timings
    )
    (out / RUN_JSON).write_text(json.dumps(info, indent=2, default=str))
    return RunSummary(out, info)
