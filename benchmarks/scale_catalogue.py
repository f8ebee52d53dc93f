"""Catalogue scale benchmark: synthetic catalogues of 10k / 100k / 1M items through export, load
and serving, with the ANN index's recall against exact search.

    python -m benchmarks.scale_catalogue --bundle artifacts/bundles/LATEST \\
        --sizes 10000,100000,1000000 --encode-limit 10000 --work W --out W/scale.json

Per size: titles drawn from the Online Retail titles' words and lengths, vectors from the source
bundle's item encoder (the first ``--encode-limit`` titles encoded, the rest synthesised from
them: benchmarks/scale_synth.py; the table says how many), a bundle built with the export code
(benchmarks/scale_bundle.py), `fulcrum serve` on it (benchmarks/scale_serve.py), then recall@100
of the ANN path against exact search on 200 user-like vectors: the raw index (top 100 of the
index) and the serving path (``Catalogue.retrieve``: the ANN pool re-scored exactly, cosine and
the bundle's hybrid score). Each row records ``uptime``'s load average next to its timings.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import subprocess
import time
from pathlib import Path

import numpy as np

#: the Online Retail data the project vendors (data/NOTICE.md): the source of the title words
DATA = Path(__file__).resolve().parents[1] / "data" / "online-retail.csv.gz"


def load_average() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def titles_for(n: int, csv_gz: Path, seed: int, block: int = 10_000) -> tuple[list[str], np.ndarray]:
    """Prefix-stable synthetic titles: the first k titles are the same for every n >= k."""
    from benchmarks.scale_synth import synth_titles

    titles, prices = [], []
    for b in range(0, n, block):
        t, p = synth_titles(min(block, n - b), csv_gz, seed * 1_000_003 + b // block)
        titles += t
        prices.append(p)
    return titles, np.concatenate(prices)


def encoded(
    source: Path, titles: list[str], limit: int, work: Path, threads: int
) -> tuple[np.ndarray, float]:
    """The encoder's vectors of ``titles[:limit]``, cached in ``work`` (same titles, same file)."""
    from benchmarks.scale_synth import encode

    k = min(limit, len(titles))
    cache = work / f"encoded-{k}.npz"
    if cache.is_file():
        z = np.load(cache, allow_pickle=False)
        if list(z["titles"]) == titles[:k]:
            return z["vectors"], float(z["rate"])
    vectors, rate = encode(source, titles[:k], threads)
    np.savez(cache, vectors=vectors, rate=rate, titles=np.array(titles[:k]))
    return vectors, rate


def recall(bundle: Path, n_queries: int, ann_min_items: int, seed: int) -> dict:
    """recall@100 of the ANN index and of the serving path's pool vs exact, on user-like vectors."""
    import pandas as pd

    from fulcrum.core import ann_index
    from fulcrum.core import bundle_format as bf
    from fulcrum.core import hybrid as hy
    from fulcrum.core.bundle.ann import AnnSettings, LockedIndex, ann_parts
    from fulcrum.core.bundle.catalogue import Catalogue

    emb = np.load(bundle / bf.ITEM_EMBEDDINGS)
    if not (bundle / ann_index.RECOMMEND_FILE).is_file():
        return {"ann": "no index"}
    rng = np.random.default_rng(seed)
    picks = emb[rng.integers(0, len(emb), (n_queries, 3))].sum(axis=1)
    users = (picks / np.linalg.norm(picks, axis=1, keepdims=True)).astype(np.float32)
    exact = np.stack([np.argsort(-(emb @ u), kind="stable")[:100] for u in users])
    index = LockedIndex(ann_index.load(bundle / ann_index.RECOMMEND_FILE))
    raw = np.stack([index.search(u, 100, 256) for u in users])
    manifest = json.loads((bundle / bf.MANIFEST).read_text())
    items = pd.read_parquet(bundle / bf.ITEMS, columns=["item_id", "purchases", "popularity_rank"])
    cat = Catalogue.from_frame(
        items, emb, hy.NeighbourTable.load(bundle / hy.NEIGHBOURS_FILE), np.load(bundle / hy.TREND_FILE),
        hy.weights_from_manifest(manifest), float(manifest[hy.MANIFEST_KEY]["trend_zero"]),
    )
    plain = dataclasses.replace(cat, hybrid=hy.HybridWeights())
    settings = AnnSettings(min_items=1)
    out = {"queries": n_queries, "ef_search": settings.ef_search, "pool": settings.pool,
           "index_recall@100": round(ann_index.recall_at(raw, exact), 4)}
    for name, c in (("serving_cosine_recall@100", plain), ("serving_hybrid_recall@100", cat)):
        with_ann = dataclasses.replace(c, ann=ann_parts(c, index, None, settings))
        approx, truth, seconds = [], [], []
        for u in users:
            bought = rng.integers(0, len(emb), 10)
            t = time.perf_counter()
            approx.append(with_ann.retrieve(u, 100, None, bought)[0])
            seconds.append(time.perf_counter() - t)
            truth.append(c.retrieve(u, 100, None, bought)[0])
        out[name] = round(ann_index.recall_at(np.stack(approx), np.stack(truth)), 4)
        out[name.replace("recall@100", "p50_ms")] = round(float(np.percentile(seconds, 50)) * 1000, 2)
    with_ann = dataclasses.replace(cat, ann=ann_parts(cat, index, None, settings))
    out["catalogue_upsert"] = upsert_rate(with_ann, rng)
    return out


def upsert_rate(cat, rng: np.random.Generator, items: int = 2000, batch: int = 50) -> dict:
    """New items per second into the live catalogue and its ANN index (vectors given: no text
    encoding), in batches of ``batch``."""
    from fulcrum.core.bundle.live_catalogue import LiveCatalogue

    live = LiveCatalogue(cat)
    base = cat.embeddings[rng.integers(0, len(cat), items)]
    vecs = base + 0.05 * rng.standard_normal(base.shape).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    t = time.perf_counter()
    for lo in range(0, items, batch):
        ids = [f"U{j}" for j in range(lo, min(items, lo + batch))]
        live.upsert(ids, ["new item"] * len(ids), vecs[lo : lo + len(ids)], [1.0] * len(ids), now=0.0)
    secs = time.perf_counter() - t
    grown = live.current
    return {"items": items, "batch": batch, "per_s": round(items / secs, 1),
            "index_rows": grown.ann.recommend.ntotal if grown.ann else None}


def run_size(args, n: int, words: list[str]) -> dict:
    from benchmarks.scale_bundle import build_bundle
    from benchmarks.scale_serve import measure
    from benchmarks.scale_synth import perturbed

    work = Path(args.work)
    row: dict = {"items": n, "load_average_start": load_average()}
    bundle = work / f"bundle-{n}"
    if args.reuse_bundles and (bundle / "manifest.json").is_file():
        row["export"] = {"reused": str(bundle), "bundle_bytes": sum(
            p.stat().st_size for p in bundle.rglob("*") if p.is_file())}
    else:
        t = time.perf_counter()
        titles, prices = titles_for(n, DATA, args.seed)
        row["titles_s"] = round(time.perf_counter() - t, 2)
        real, rate = encoded(Path(args.bundle), titles, args.encode_limit, work, args.threads)
        vectors = np.concatenate([real, perturbed(real, n - len(real), args.seed)]) if n > len(real) else real
        row["vectors"] = {
            "encoded": len(real), "synthesised": n - len(real), "encode_rate_per_s": round(rate, 1)
        }
        t = time.perf_counter()
        row["export"] = build_bundle(Path(args.bundle), bundle, titles, prices, vectors, args.seed,
                                     args.export_ann_min_items, args.threads)
        row["export"]["seconds"] = round(time.perf_counter() - t, 2)
        row["load_average_export"] = load_average()
        del vectors, real, titles, prices
    serve_dir = work / f"serve-{n}"
    serve_dir.mkdir(parents=True, exist_ok=True)
    row["serve"] = measure(bundle, serve_dir, [f"S{j:07d}" for j in range(n)], words, args.requests,
                           args.users, args.upserts, args.ann_min_items, args.seed)
    row["load_average_serve"] = load_average()
    if not args.skip_recall:
        row["recall"] = recall(bundle, args.recall_queries, args.ann_min_items, args.seed)
    row["load_average_end"] = load_average()
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", required=True, help="source bundle: its graphs and tokenizer are used")
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--encode-limit", type=int, default=10_000,
                   help="titles encoded with the real item encoder; the rest are synthesised")
    p.add_argument("--work", required=True, help="folder for the bundles, caches and logs")
    p.add_argument("--out", required=True, help="JSON written with one row per size")
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--users", type=int, default=50)
    p.add_argument("--upserts", type=int, default=200)
    p.add_argument("--recall-queries", type=int, default=200)
    p.add_argument("--ann-min-items", type=int, default=50_000, help="the server's ann_min_items")
    p.add_argument("--export-ann-min-items", type=int, default=10_000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--reuse-bundles", action="store_true",
                   help="measure the bundles a previous run built in --work (same sizes and seed)")
    p.add_argument("--skip-recall", action="store_true")
    p.add_argument("--baseline", action="store_true",
                   help="also measure the source bundle itself (its own catalogue) first")
    args = p.parse_args(argv)
    from benchmarks.scale_serve import measure
    from benchmarks.scale_synth import title_model

    Path(args.work).mkdir(parents=True, exist_ok=True)
    words = [str(w) for w in title_model(DATA)[0]]
    machine = {"cpus": os.cpu_count(), "platform": platform.platform()}
    result = {"machine": machine, "args": vars(args), "rows": []}
    if args.baseline:  # the source bundle itself, through the same measurements
        import pandas as pd

        source = Path(args.bundle)
        ids = pd.read_parquet(source / "items.parquet", columns=["item_id"])["item_id"].astype(str).tolist()
        serve_dir = Path(args.work) / "serve-source"
        serve_dir.mkdir(parents=True, exist_ok=True)
        row = {"items": len(ids), "source_bundle": True, "load_average_start": load_average(),
               "export": {"bundle_bytes": sum(p.stat().st_size for p in source.rglob("*") if p.is_file())}}
        row["serve"] = measure(source, serve_dir, ids, words, args.requests, args.users, args.upserts,
                               args.ann_min_items, args.seed)
        row["load_average_end"] = load_average()
        result["rows"].append(row)
        print(json.dumps(row, default=str), flush=True)
    for n in (int(s) for s in args.sizes.split(",") if s):
        row = run_size(args, n, words)
        result["rows"].append(row)
        result["bench_peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        Path(args.out).write_text(json.dumps(result, indent=2, default=str) + "\n")
        print(json.dumps(row, default=str), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
