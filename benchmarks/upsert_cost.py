"""CPU per ITEM_UPSERT batch in the live catalogue, the part of an upsert that holds the GIL in
the server's worker thread (the event loop waits for it): `python -m benchmarks.upsert_cost`.

Loads the bundle's catalogue (``load_bundle``: the same catalogue the server serves), then
upserts ``--items`` new items in batches of ``--batch`` through ``LiveCatalogue.upsert`` (what
``CatalogueSink`` calls after embedding; the vectors here are random unit vectors, so the
encoder's cost is left out), then ``--updates`` text changes of existing items. Per batch it
takes the thread's CPU time (``time.thread_time``) and prints p50, p99 and the largest batch,
with the catalogue size at the end and the load average. ``--python-path DIR`` runs the same
measurement on another source tree (e.g. ``git archive main``) for a before/after pair.

    .venv/bin/python -m benchmarks.upsert_cost --bundle artifacts/bundles/LATEST [--items 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from fulcrum.core.environment import child_environment

WORDS = (
    "vintage red heart cushion cover cotton ceramic mug set of 6 paper lanterns glass t-light holder "
    "wooden storage box garden bird feeder retro alarm clock lunch bag spotty pink"
).split()


def _measure(bundle: str, items: int, batch: int, updates: int, seed: int) -> dict:
    import numpy as np

    from fulcrum.core.bundle.live_catalogue import LiveCatalogue
    from fulcrum.core.bundle.loader import load_bundle

    rng = np.random.default_rng(seed)
    cat = load_bundle(Path(bundle)).catalogue
    live = LiveCatalogue(cat)
    n0 = len(cat)

    def vectors(k: int, dim: int) -> np.ndarray:
        v = rng.normal(size=(k, dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def text() -> str:
        return " ".join(rng.choice(WORDS, size=int(rng.integers(4, 12))))

    def run(ids: list[str]) -> float:
        space = live.current.search_vectors
        search = None if space is None else vectors(len(ids), space.shape[1])
        t = time.thread_time()
        live.upsert(ids, [text() for _ in ids], vectors(len(ids), cat.dim), [2.5] * len(ids), time.time(),
                    search_vectors=search)  # fmt: skip
        return (time.thread_time() - t) * 1000

    added = [run([f"uc-{i}" for i in range(s, min(s + batch, items))]) for s in range(0, items, batch)]
    existing = [str(x) for x in cat.item_ids[:n0]]
    changed = [run(list(rng.choice(existing, size=batch, replace=False))) for _ in range(0, updates, batch)]

    def stats(ms: list[float]) -> dict:
        a = np.asarray(ms) if ms else np.zeros(1)
        return {
            "batches": len(ms),
            "p50_ms": round(float(np.percentile(a, 50)), 2),
            "p99_ms": round(float(np.percentile(a, 99)), 2),
            "max_ms": round(float(a.max()), 2),
            "total_s": round(float(a.sum()) / 1000, 3),
        }

    return {
        "catalogue_before": n0,
        "catalogue_after": len(live.current),
        "new_items": stats(added),
        "text_updates": stats(changed),
        "load_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default="artifacts/bundles/LATEST")
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--updates", type=int, default=500)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--python-path", default=None, help="measure this source tree instead")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child or args.python_path is None:
        bundle = str(Path(args.bundle).resolve())
        import fulcrum

        print(f"measuring {Path(fulcrum.__file__).parents[1]}", file=sys.stderr)
        print(json.dumps(_measure(bundle, args.items, args.batch, args.updates, args.seed)))
        return
    env = child_environment(PYTHONPATH=str(Path(args.python_path).resolve()))
    cmd = [sys.executable, "-c", "import sys, runpy; sys.argv[0] = 'upsert_cost'; "
           "runpy.run_path(sys.argv.pop(1), run_name='__main__')", __file__, "--child",
           "--bundle", str(Path(args.bundle).resolve()), "--items", str(args.items),
           "--updates", str(args.updates), "--batch", str(args.batch), "--seed", str(args.seed)]  # fmt: skip
    subprocess.run(cmd, env=env, cwd=args.python_path, check=True)  # cwd: "-c" puts it first on sys.path


if __name__ == "__main__":
    main()
