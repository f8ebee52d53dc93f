"""`fulcrum evaluate --bundle DIR`: everything the issue's evaluation asks, in one folder.

Writes to ``out`` (default ``DIR/report``; the bundle's own files and hashes are untouched):
``metrics.json``, ``report.md``, ``pr_curves.png``, ``calibration.png``,
``popularity_vs_exposure.png``, ``tail_tradeoff.png``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
REPORT_DIR = "report"
METRICS_FILE = "metrics.json"
REPORT_FILE = "report.md"


def _recording(fn, sink: list[list[str]]):
    def wrapped(users, k, exclude):
        lists = fn(users, k, exclude)
        sink.extend(lists)
        return lists

    return wrapped


def _ild(lists: list[list[str]], model, k: int = 10) -> float:
    from offline.eval.intra_list_diversity import intra_list_diversity

    emb = {str(i): model.cat.embeddings[j] for i, j in model.cat.index.items()}
    vals = [intra_list_diversity(r, emb, k) for r in lists if r]
    return float(np.mean(vals)) if vals else 0.0


def guard_bundle(bundle_dir: Path, data_dir: Path, prepared) -> None:
    """Refuse (``InSampleError``) a bundle that may have trained on ``prepared``'s test split."""
    from fulcrum.core import schema as S
    from fulcrum.core.bundle_format import sha256_file
    from offline.data.split import LEAVE_LAST_OUT
    from offline.report.bundle_guard import check_out_of_sample

    manifest = json.loads((Path(bundle_dir) / "manifest.json").read_text())
    per_user = prepared.split.kind == LEAVE_LAST_OUT
    start = None if per_user else prepared.split.cutoff.timestamp()
    check_out_of_sample(
        manifest, f"bundle {bundle_dir}", sha256_file(Path(data_dir) / S.EVENTS_FILE), start, per_user
    )


def evaluate_bundle(
    bundle_dir: Path,
    data_dir: Path,
    baselines: list[str],
    out_dir: Path | None = None,
    ablation_path: Path | None = None,
    threads: int = 2,
    status: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    from offline.baselines.registry import run_baselines
    from offline.data.dataset import load_prepared
    from offline.eval.harness import evaluate_recommender
    from offline.eval.protocol import protocol_for
    from offline.report import plots
    from offline.report.bundle_model import BundleModel
    from offline.report.markdown import write_report
    from offline.report.ranker_eval import evaluate_bundle_ranker
    from offline.report.serving_order import serving_defaults
    from offline.report.tradeoff import recommend_fn, sweep

    t0 = time.perf_counter()
    bundle_dir = Path(bundle_dir)
    out = Path(out_dir) if out_dir else bundle_dir / REPORT_DIR
    prepared = load_prepared(data_dir)
    guard_bundle(bundle_dir, data_dir, prepared)  # before anything is written
    out.mkdir(parents=True, exist_ok=True)
    protocol = protocol_for(prepared)
    status("loading the bundle and folding user profiles")
    model = BundleModel(bundle_dir, prepared)
    results: dict[str, Any] = {}
    lists: dict[str, list[list[str]]] = {}
    serving = serving_defaults()
    rows = [("model", "ranker", model), ("model (retrieval only)", "retrieval", model)]
    if serving["ranking_mode"] not in {rel for _, rel, _ in rows}:
        rows.append((f"model ({serving['ranking_mode']})", serving["ranking_mode"], model))
    if model.cat.hybrid.active:  # what the hybrid score adds over the towers alone
        rows.append(("model (two towers only, no hybrid)", "retrieval", model.without_hybrid()))
    for name, rel, row_model in rows:
        status(f"evaluating {name}")
        sink: list[list[str]] = []
        t = time.perf_counter()
        is_default = rel == serving["ranking_mode"] and row_model is model
        knobs = (
            {"blend_weight": serving["blend_weight"], "cancel_risk_weight": serving["cancel_risk_weight"]}
            if is_default
            else {}
        )
        m = evaluate_recommender(
            _recording(recommend_fn(row_model, protocol.head_items, rel, **knobs), sink),
            prepared,
            k_list=(10, 20),
            protocol=protocol,
        )
        warm_lists = sink[: len(protocol.warm_users)]
        m["warm"]["intra_list_diversity@10"] = _ild(warm_lists, model)
        results[name] = {
            "settings": {
                "bundle": str(bundle_dir),
                "relevance": rel,
                "hybrid": row_model.cat.hybrid.active,
                "serving_default": is_default,
                **knobs,
            },
            "metrics": m,
            "total_seconds": time.perf_counter() - t,
        }
        lists[name] = [r[:10] for r in warm_lists]
    if baselines:
        status("fitting and evaluating baselines")
        results.update(
            run_baselines(
                prepared,
                baselines,
                k_list=(10, 20),
                threads=threads,
                protocol=protocol,
                on_start=lambda n: status(f"baseline {n}"),
            )
        )
    trades = {}
    for rel in ("ranker", "retrieval"):
        status(f"re-rank sweep over the {rel} order (tail boost x MMR)")
        trades[rel] = sweep(model, prepared, protocol, rel)
    # the trade-off is reported from the more accurate of the two orders
    trade = max(trades.values(), key=lambda t: t["base"]["ndcg@10"])
    best = trade["best"]
    sink = []
    evaluate_recommender(
        _recording(
            recommend_fn(model, protocol.head_items, trade["relevance"], best["boost"], best["mmr_weight"]),
            sink,
        ),
        prepared,
        k_list=(10,),
        protocol=protocol,
    )
    lists[f"model + re-rank (boost {best['boost']}, MMR {best['mmr_weight']})"] = [
        r[:10] for r in sink[: len(protocol.warm_users)]
    ]
    status("ranking head on held-out rows")
    ranker = evaluate_bundle_ranker(model, prepared)
    curves = ranker["curves"]  # empty when the head is off
    figures = {
        "pr_curves": plots.pr_curves(curves, out / plots.PR_CURVES).name if curves else None,
        "calibration": plots.calibration(curves, out / plots.CALIBRATION).name if curves else None,
        "popularity_vs_exposure": plots.popularity_vs_exposure(
            protocol.item_train_counts, lists, out / plots.POPULARITY_EXPOSURE
        ).name,
        "tail_tradeoff": plots.tradeoff(trade["points"], best, out / plots.TRADEOFF).name,
    }
    ablation = None
    if ablation_path is not None and Path(ablation_path).is_file():
        ablation = json.loads(Path(ablation_path).read_text())
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    payload = {
        "bundle": {
            "path": str(bundle_dir),
            "version": manifest.get("version"),
            "git_commit": manifest.get("git_commit"),
        },
        "data": str(data_dir),
        "protocol": prepared.split.protocol,
        "users": {"warm": len(protocol.warm_users), "cold": len(protocol.cold_users)},
        "serving": serving,
        "recommenders": results,
        "tradeoff": trade,
        "tradeoffs": {k: {kk: v for kk, v in t.items() if kk != "points"} for k, t in trades.items()},
        "ranker": {"metrics": ranker["metrics"], "rows": ranker["rows"], "heads": ranker["heads"]},
        "stages": (manifest.get("metrics") or {}).get("stages", {}),
        "training_cut": manifest.get("training_cut", {}),
        "ablation": ablation,
        "figures": figures,
        "seconds": time.perf_counter() - t0,
    }
    (out / METRICS_FILE).write_text(json.dumps(payload, indent=2, default=float) + "\n")
    write_report(out / REPORT_FILE, payload)
    return payload
