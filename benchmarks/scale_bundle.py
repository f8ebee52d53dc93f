"""A bundle of a synthetic catalogue for the scale benchmark, built the way export builds one.

The graphs (item encoder, user encoder, ranker) and the tokenizer are the source bundle's (the
real towers); the catalogue is replaced: ``items.parquet`` (synthetic titles, prices, a Zipf
purchase count), ``item_embeddings.npy`` (the item encoder's vectors of the titles; no separate
text matrix, so Search and Recommend share one vector space and one ANN index), a hybrid
neighbour table (20 neighbours per item drawn at random, similarities uniform) and trend prior
(standardised log of a Zipf buyer count) with the source bundle's weights, then the export
code's lexical index and ANN indexes (offline/export/lexical.py, offline/export/ann.py) and
manifest writer (sha256 of every file).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from fulcrum.core import bundle_format as bf
from fulcrum.core import hybrid as hy

#: graph and tokenizer files taken from the source bundle as they are
COPIED = (bf.ITEM_ENCODER, bf.ITEM_ENCODER_INT8, bf.USER_ENCODER, bf.RANKER, bf.TOKENIZER)
NEIGHBOURS_PER_ITEM = 20


def items_frame(titles: list[str], prices: np.ndarray, seed: int) -> pd.DataFrame:
    n = len(titles)
    rng = np.random.default_rng(seed)
    purchases = np.floor(rng.zipf(1.6, n).clip(max=100_000) - 1).astype(np.float64)
    now = pd.Timestamp("2026-12-01", tz="UTC")
    first_seen = now - pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    rank = np.argsort(np.argsort(-purchases, kind="stable"), kind="stable")
    return pd.DataFrame(
        {
            "item_id": [f"S{j:07d}" for j in range(n)],
            "text": titles,
            "price": np.round(prices, 2),
            "first_seen": first_seen,
            "purchases": purchases,
            "impressions": purchases * 8,
            "cancel_rate": rng.uniform(0, 0.05, n),
            "popularity_rank": rank.astype(np.int64),
        }
    )


def hybrid_files(folder: Path, n: int, seed: int) -> tuple[float, float]:
    """Write the neighbour table and trend prior; returns (trend_zero, seconds)."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed + 1)
    k = NEIGHBOURS_PER_ITEM
    table = hy.NeighbourTable(
        np.arange(0, n * k + 1, k, dtype=np.int64),
        rng.integers(0, n, n * k).astype(np.int32),
        rng.uniform(0.02, 0.6, n * k).astype(np.float32),
    )
    table.save(folder / hy.NEIGHBOURS_FILE)
    raw = np.log1p(rng.zipf(1.8, n).clip(max=10_000) - 1.0)
    sd = float(raw.std())
    trend = ((raw - raw.mean()) / sd).astype(np.float32)
    np.save(folder / hy.TREND_FILE, trend)
    return float(-raw.mean() / sd), time.perf_counter() - started


def build_bundle(
    source: Path, out: Path, titles: list[str], prices: np.ndarray, vectors: np.ndarray, seed: int,
    ann_min_items: int, ann_threads: int,
) -> dict:
    """Write the bundle folder ``out``; returns the timings and sizes of its stages."""
    from fulcrum.core.manifest import write_manifest
    from offline.export.ann import write_ann_indexes
    from offline.export.lexical import write_lexical_index

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    for name in COPIED:
        if (source / name).is_file():
            shutil.copy2(source / name, out / name)
    items_frame(titles, prices, seed).to_parquet(out / bf.ITEMS, index=False)
    np.save(out / bf.ITEM_EMBEDDINGS, np.ascontiguousarray(vectors, dtype=np.float32))
    timings["items_s"] = time.perf_counter() - t
    trend_zero, timings["hybrid_s"] = hybrid_files(out, len(titles), seed)
    t = time.perf_counter()
    lexical = write_lexical_index(out)
    timings["lexical_s"] = time.perf_counter() - t
    t = time.perf_counter()
    ann = write_ann_indexes(out, min_items=ann_min_items, threads=ann_threads)
    timings["ann_s"] = time.perf_counter() - t
    t = time.perf_counter()
    body = json.loads((source / bf.MANIFEST).read_text())
    dropped = ("format", "version", "created_at", "git_commit", "git_dirty", "files", "probes")
    for key in (*dropped, "search_space"):
        body.pop(key, None)
    body["item_count"] = len(titles)
    body["item_embeddings"] = "synthetic scale-benchmark catalogue: item encoder output of synthetic titles"
    block = dict(body.get(hy.MANIFEST_KEY) or {"neighbour_weight": 0.15, "trend_weight": 0.75})
    block.pop("validation_grid", None)
    block["trend_zero"] = trend_zero
    body[hy.MANIFEST_KEY] = block
    body["lexical_index"] = lexical
    body["ann"] = ann
    body["notes"] = "scale benchmark bundle (benchmarks/scale_bundle.py): not a trained model"
    write_manifest(out, body)
    timings["manifest_s"] = time.perf_counter() - t
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"timings": {k: round(v, 2) for k, v in timings.items()}, "bundle_bytes": size, "ann": ann}
