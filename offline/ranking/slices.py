"""The three slices of ranking rows — fit, validation (last ``val_days`` of train) and test — built
once from a prepared data folder and cached as .npz (keyed by the label settings and the data
files' sizes and mtimes, so a re-prepared dataset or other settings rebuild them).

Cancellation labels of a slice only look at events before the slice's horizon: the fit slice's
labels stop at the validation start, the validation slice's at the train cut-off.

Two tasks share the slice plan: ``cancel`` (the head's own rows: purchased lines and sampled
catalogue negatives, ``offline.ranking.labels``) and ``interaction`` (purchase given an
interaction, ``offline.ranking.interaction_rows``; time splits only).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fulcrum.core import schema as S
from offline.ranking.config import RankerConfig
from offline.ranking.history import ScoreFn, build_rank_rows
from offline.ranking.labels import label_rows
from offline.ranking.rows import RankRows

log = logging.getLogger(__name__)
SLICES = ("fit", "val", "test")
#: the ablation's tasks: the head's cancellation output, or purchase given an interaction
TASKS = ("cancel", "interaction")


@dataclass(frozen=True)
class RankSlices:
    fit: RankRows
    val: RankRows
    test: RankRows
    build_seconds: float = 0.0

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for name in SLICES:
            r: RankRows = getattr(self, name)
            m = r.cancel_mask
            out[name] = {
                "rows": len(r),
                "purchased_lines": int(m.sum()),
                "cancel_rate": float(r.cancel[m].mean()) if m.any() else 0.0,
            }
        return out


def _key(data_dir: Path, cfg: RankerConfig, scorer: str, task: str = "cancel") -> str:
    parts = {
        "task": task,
        "purchase_win": cfg.purchase_window_days if task == "interaction" else None,
        "neg": cfg.neg_per_pos,
        "win": cfg.cancel_window_days,
        "val": cfg.val_days,
        "seed": cfg.seed,
        "scorer": scorer,
        "v": 3,
    }
    for name in (S.EVENTS_FILE, S.ITEMS_FILE, S.SPLIT_FILE):
        st = (data_dir / name).stat()
        parts[name] = [st.st_size, int(st.st_mtime)]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def slice_plan(data, val_days: float) -> dict[str, tuple]:
    """For each slice (fit, val, test): (events it may see, events its positives come from or
    None = the seen ones, start, end, cancellation horizon), for either split kind:

    - time split: fit = train before its last ``val_days``, val = those days, test = the test
      split (each slice's cancellations stop at its horizon; histories at each row's time);
    - leave-last-out: fit = train minus each user's last train basket, val = those baskets,
      test = the held-out baskets; each slice sees only the events before it (fit: the fit part;
      val: all of train; test: everything), histories strictly before each row's time.
    """
    from offline.data.split import LEAVE_LAST_OUT

    inf = np.inf
    if data.split.kind == LEAVE_LAST_OUT:
        val = data.validation_split()
        return {
            "fit": (val.train_events(), None, -inf, inf, inf),
            "val": (data.train_events(), val.test_events(), -inf, inf, inf),
            "test": (data.events, data.test_events(), -inf, inf, inf),
        }
    if data.split.cutoff is None:
        raise ValueError(
            "a time split needs its cut-off (split.json 'cutoff'): re-run `fulcrum data prepare`"
        )
    cutoff = data.split.cutoff.timestamp()
    val_start = cutoff - val_days * 86_400.0
    ev = data.events
    return {
        "fit": (ev, None, -inf, val_start, val_start),
        "val": (ev, None, val_start, cutoff, cutoff),
        "test": (ev, None, cutoff, inf, inf),
    }


def build_slices(data, cfg: RankerConfig, score_fn: ScoreFn | None = None, progress=None,
                 task: str = "cancel") -> RankSlices:
    """Rows of the three slices from a ``PreparedData`` (``slice_plan``)."""
    if task == "interaction":
        return build_interaction_slices(data, cfg)
    t0 = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    out = {}
    for name, (seen, positives, start, end, horizon) in slice_plan(data, cfg.val_days).items():
        rows = label_rows(seen, data.items, start, end, horizon, cfg.neg_per_pos, cfg.cancel_window_days, rng,
                          positive_events=positives)
        out[name] = build_rank_rows(seen, data.items, rows, score_fn, progress=progress)
        log.info("ranking slice %s: %d rows", name, len(out[name]))
    return RankSlices(out["fit"], out["val"], out["test"], time.perf_counter() - t0)


def build_interaction_slices(data, cfg: RankerConfig) -> RankSlices:
    """The purchase-given-interaction rows of the three slices (time splits only: a
    leave-last-out test holds the events from each user's last purchase on, so its interactions
    would mostly come after the purchase they should predict)."""
    from offline.data.errors import DataError
    from offline.data.split import LEAVE_LAST_OUT
    from offline.ranking.interaction_rows import build_interaction_rows

    if data.split.kind == LEAVE_LAST_OUT:
        raise DataError(
            "split.json",
            "the purchase-given-interaction task needs a time split (leave-last-out holds out events "
            "from each user's last purchase on): re-run `fulcrum data prepare --split time`",
        )
    t0 = time.perf_counter()
    out = {}
    for name, (seen, _pos, start, end, horizon) in slice_plan(data, cfg.val_days).items():
        out[name] = build_interaction_rows(seen, data.items, start, end, horizon, cfg.purchase_window_days)
        log.info("interaction slice %s: %d rows, %d purchased", name, len(out[name]),
                 int(out[name].purchase.sum()))
    return RankSlices(out["fit"], out["val"], out["test"], time.perf_counter() - t0)


def load_or_build_slices(
    data_dir: str | Path,
    cfg: RankerConfig,
    score_fn: ScoreFn | None = None,
    scorer_name: str = "none",
    cache_dir: str | Path | None = None,
    progress=None,
    task: str = "cancel",
) -> RankSlices:
    from offline.data.dataset import load_prepared
    from offline.data.errors import DataError

    data_dir = Path(data_dir)
    for name in (S.EVENTS_FILE, S.ITEMS_FILE, S.SPLIT_FILE):
        if not (data_dir / name).is_file():
            raise DataError(str(data_dir / name), "file not found (run `fulcrum data prepare` first)")
    cache = Path(cache_dir) if cache_dir else None
    if cache is not None:
        key = _key(data_dir, cfg, scorer_name, task)
        paths = {n: cache / f"rank_{task}_{n}_{key}.npz" for n in SLICES}
        if all(p.is_file() for p in paths.values()):
            log.info("ranking slices from cache %s (key %s)", cache, key)
            return RankSlices(*(RankRows.load(paths[n]) for n in SLICES))
    if task not in TASKS:
        raise ValueError(f"task {task!r}: expected one of {', '.join(TASKS)}")
    slices = build_slices(load_prepared(data_dir), cfg, score_fn, progress, task)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        for n in SLICES:
            getattr(slices, n).save(paths[n])
    return slices
