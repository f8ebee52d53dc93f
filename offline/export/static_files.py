"""The bundle's files that are copied or computed without ONNX: item table, item vectors, the
hybrid score's parts, Search's text-only item vectors, the tokenizer and the lexical index."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fulcrum.core import bundle_format as bf
from offline.export.errors import ExportError
from offline.export.run_inputs import RunInputs
from offline.model import run_layout as rl


@dataclass(frozen=True)
class StaticFiles:
    hybrid: dict | None  # the manifest's hybrid block (None: the run has no hybrid score)
    lexical: dict  # the manifest's lexical_index block


def write_static_files(run_dir: Path, tmp: Path, run: RunInputs) -> StaticFiles:
    import torch

    from offline.export.lexical import write_lexical_index

    shutil.copy2(run_dir / rl.ITEMS, tmp / bf.ITEMS)
    np.save(tmp / bf.ITEM_EMBEDDINGS, run.emb)
    hybrid = copy_hybrid(run_dir, tmp, run.info.get("hybrid"), len(run.emb))
    if (run_dir / rl.POOLED).is_file():  # the text-only vectors Search compares with
        with torch.no_grad():
            pooled = torch.from_numpy(np.load(run_dir / rl.POOLED))
            np.save(tmp / bf.ITEM_TEXT_EMBEDDINGS, run.tower.project(pooled).numpy().astype(np.float32))
    run.tok.save(str(tmp / bf.TOKENIZER))
    lexical = write_lexical_index(tmp)  # Search's BM25 index (offline/export/lexical.py)
    return StaticFiles(hybrid, lexical)


def copy_hybrid(run_dir: Path, tmp: Path, block: dict | None, n_items: int) -> dict | None:
    """Copy the hybrid retrieval files of a run (fulcrum/core/hybrid.py) into the bundle and
    return its manifest block (None when the run has no hybrid score)."""
    from fulcrum.core import hybrid as hy

    if not block:
        return None
    for name in (hy.NEIGHBOURS_FILE, hy.TREND_FILE):
        if not (run_dir / name).is_file():
            raise ExportError(f"{run_dir}: run.json has a hybrid block but {name} is missing")
        shutil.copy2(run_dir / name, tmp / name)
    table = hy.NeighbourTable.load(tmp / hy.NEIGHBOURS_FILE)
    trend = np.load(tmp / hy.TREND_FILE)
    if table.n_sources != n_items or trend.shape != (n_items,):
        raise ExportError(
            f"{run_dir}: hybrid files cover {table.n_sources} / {trend.shape} items, the catalogue {n_items}"
        )
    weights = hy.weights_from_manifest({hy.MANIFEST_KEY: block})  # validates the weights and source
    neighbour = (
        "co-purchase neighbours of bought items"
        if weights.neighbour_source == "purchases"
        else "positive-interaction neighbours of bought and recent positive items"
    )
    return {
        **block,
        "neighbours_file": hy.NEIGHBOURS_FILE,
        "trend_file": hy.TREND_FILE,
        "score": f"z(cosine) + neighbour_weight * z({neighbour}) + trend_weight * trend"
        + (" + repeat_weight * [item is one of the user's bought or recent positive items]"
           if "repeat_weight" in block and not weights.repeat_shape.graded else "")
        + (" + repeat_weight * log2(1 + the user's recency-decayed, behaviour-weighted count of the "
           "item among their bought and recent positive items)" if weights.repeat_shape.graded else "")
        + " (fulcrum/core/hybrid.py)",
    }
