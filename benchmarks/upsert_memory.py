"""Peak RSS of embedding N ITEM_UPSERT texts in one batch: one encoder call (the old path) vs the
chunked path every upsert sink now uses (online/inference/chunked.py), each in its own process.

    .venv/bin/python -m benchmarks.upsert_memory --bundle artifacts/bundles/LATEST --items 20000

Prints one line per mode: RSS after loading the bundle, peak RSS, seconds. ``--modes`` picks
``chunked`` and/or ``one-call`` (the one-call path on 20,000 texts needs several GiB).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _child(bundle: str, items: int, mode: str) -> dict:
    import numpy as np

    from fulcrum.core.bundle.live_catalogue import LiveCatalogue
    from fulcrum.core.bundle.loader import load_bundle
    from fulcrum.core.text import render_item_text
    from online.inference.chunked import embed_chunked

    loaded = load_bundle(bundle)
    template = loaded.manifest.text_template
    colours = ["red", "blue", "vintage", "white", "pink", "set of 3", "large", "ceramic", "glass"]
    texts = [
        render_item_text(
            f"{colours[i % 9]} {colours[(i * 7) % 9]} new product {i} with a longer name", template
        )
        for i in range(items)
    ]
    rss_loaded = _rss_mib()
    t = time.perf_counter()
    if mode == "one-call":
        vectors = np.stack(loaded.text_encoder(texts))
    else:
        vectors = embed_chunked(loaded.text_encoder, texts, loaded.catalogue.dim)
    embed_s = time.perf_counter() - t
    t = time.perf_counter()
    live = LiveCatalogue(loaded.catalogue)
    live.upsert([f"new-{i}" for i in range(items)], texts, vectors, [1.0] * items, 0.0)
    grow_s = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "mode": mode,
        "items": items,
        "rss_after_load_mib": round(rss_loaded, 1),
        "peak_rss_mib": round(peak, 1),
        "embed_s": round(embed_s, 2),
        "grow_s": round(grow_s, 3),
        "catalogue": len(live.current),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--modes", default="chunked,one-call")
    parser.add_argument("--child", default="")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.bundle, args.items, args.child)))
        return
    for mode in args.modes.split(","):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.upsert_memory",
                "--bundle",
                args.bundle,
                "--items",
                str(args.items),
                "--child",
                mode,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            print(f"{mode}: failed ({out.returncode}): {out.stderr.strip().splitlines()[-1:]}")
            continue
        print(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
