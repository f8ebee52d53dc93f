"""The three slices of ranking rows — fit, validation (last ``val_days`` of train) and test — built
once from a prepared data folder and cached as .npz (keyed by the label settings and the data
files' sizes and mtimes, so a re-prepared dataset or other settings rebuild them).

Cancellation labels of a slice only look at events before the slice's horizon: the fit slice's
labels stop at the validation start, the validation slice's at the train cut-off.
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


def _key(data_dir: Path, cfg: RankerConfig, scorer: str) -> str:
    parts = {
        "neg": cfg.neg_per_pos,
        "win": cfg.cancel_window_days,
        "val": cfg.val_days,
        "seed": cfg.seed,
        "scorer": scorer,
        "v": 2,
    }
    for name in (S.EVENTS_FILE, S.ITEMS_FILE, S.SPLIT_FILE):
        st = (data_dir / name).stat()
        parts[name] = [st.st_size, int(st.st_mtime)]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def build_slices(data, cfg: RankerConfig, score_fn: ScoreFn | None = None, progress=None) -> RankSlices:
    """Rows of the three slices from a ``PreparedData`` (time split)."""
    t0 = time.perf_counter()
    if data.split.cutoff is None:
        raise ValueError("ranking slices need a time split (split.json 'cutoff')")
    cutoff = data.split.cutoff.timestamp()
    val_start = cutoff - cfg.val_days * 86_400.0
    rng = np.random.default_rng(cfg.seed)
    ev, items = data.events, data.items
    bounds = {
        "fit": (-np.inf, val_start, val_start),
        "val": (val_start, cutoff, cutoff),
        "test": (cutoff, np.inf, np.inf),
    }
    out = {}
    for name, (start, end, horizon) in bounds.items():
        rows = label_rows(ev, items, start, end, horizon, cfg.neg_per_pos, cfg.cancel_window_days, rng)
        out[name] = build_rank_rows(ev, items, rows, score_fn, progress=progress)
        log.info("ranking slice %s: %d rows", name, len(out[name]))
    return RankSlices(out["fit"], out["val"], out["test"], time.perf_counter() - t0)


def load_or_build_slices(
    data_dir: str | Path,
    cfg: RankerConfig,
    score_fn: ScoreFn | None = None,
    scorer_name: str = "none",
    cache_dir: str | Path | None = None,
    progress=None,
) -> RankSlices:
    from offline.data.dataset import load_prepared
    from offline.data.errors import DataError

    data_dir = Path(data_dir)
    for name in (S.EVENTS_FILE, S.ITEMS_FILE, S.SPLIT_FILE):
        if not (data_dir / name).is_file():
            raise DataError(str(data_dir / name), "file not found (run `fulcrum data prepare` first)")
    cache = Path(cache_dir) if cache_dir else None
    if cache is not None:
        key = _key(data_dir, cfg, scorer_name)
        paths = {n: cache / f"rank_{n}_{key}.npz" for n in SLICES}
        if all(p.is_file() for p in paths.values()):
            log.info("ranking slices from cache %s (key %s)", cache, key)
            return RankSlices(*(RankRows.load(paths[n]) for n in SLICES))
    slices = build_slices(load_prepared(data_dir), cfg, score_fn, progress)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        for n in SLICES:
            getattr(slices, n).save(paths[n])
    return slices
