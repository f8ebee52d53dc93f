"""Choose the serving ordering (``ranking_mode``, ``tail_boost``, ``diversity``) on the VALIDATION
slice, never on the test.

A bundle that trained on all of train has seen the validation slice (its refit epoch, its
neighbours and trend), so the guards refuse to score it there. The choice therefore uses a
*validation bundle*: one trained on the validation view of the same prepared folder (train minus
its last ``validation_days``; ``fulcrum data validation-view``), which is out of sample on the
validation slice by construction (checked: its last train event must precede the slice). On that
slice, for each ranking mode the bundle supports, the re-rank grid of ``offline.report.tradeoff``
(tail boost x MMR weight) is swept on the chosen protocol variant (``--protocol``,
``--repeat-allowed``), and (``choose``, pure):

- ``ranking_mode``: the mode whose plain order (boost 0, MMR 0) has the highest validation
  NDCG@10; ties go to the earlier of ``MODES`` (retrieval first: the cheapest to serve);
- ``tail_boost`` and ``diversity``: that mode's point with the largest tail share@10 within a
  5 % NDCG@10 loss of its plain order (``tradeoff.best_within_loss``).

When no ordering scores above 0 on the slice, the command stops and says so (``NoSignal``).
The result is written as a serve-config fragment (``fulcrum serve --config``: the values override
the built-in defaults of fulcrum/core/serving_defaults.py) and as JSON with every grid point. The
test sweep of ``fulcrum evaluate --bundle`` stays in its report as a picture, labelled "best of
grid on test".
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MODES: tuple[str, ...] = ("retrieval", "ranker", "blend")
CHOSEN_FIELDS = ("ranking_mode", "tail_boost", "diversity")


class NoSignal(ValueError):
    """Every validation point scored NDCG@10 0: any choice would be arbitrary."""


def choose(sweeps: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The serving ordering from validation sweeps ``{mode: {"base": point, "best": point}}``
    (see the module doc). Pure. ``NoSignal`` when no plain order scores above 0."""
    if not sweeps:
        raise ValueError("choose: no sweep to choose from")
    if all(s["base"]["ndcg@10"] <= 0 for s in sweeps.values()):
        raise NoSignal("every ordering scores NDCG@10 0 on the validation slice, so any choice would "
                       "be arbitrary (fix: a protocol with signal, e.g. --protocol interactions "
                       "--repeat-allowed on a multi-behaviour shop, or a longer validation slice)")
    modes = [m for m in MODES if m in sweeps] + [m for m in sweeps if m not in MODES]
    mode = max(modes, key=lambda m: (sweeps[m]["base"]["ndcg@10"], -modes.index(m)))
    best = sweeps[mode]["best"]
    return {"ranking_mode": mode, "tail_boost": float(best["boost"]), "diversity": float(best["mmr_weight"])}


def choose_on_validation(bundle_dir: Path, data_dir: Path,
                         status: Callable[[str], None] = lambda s: None,
                         repeat_allowed: bool = False, history: str = "purchases") -> dict[str, Any]:
    """Sweep a validation bundle on ``data_dir``'s validation slice and choose (module doc).
    Raises ``InSampleError`` when the bundle trained on the slice (or a leave-last-out split,
    whose per-user validation baskets cannot be shown to be unseen)."""
    from fulcrum.core import schema as S
    from fulcrum.core.bundle_format import sha256_file
    from offline.data.dataset import load_prepared
    from offline.data.split import LEAVE_LAST_OUT
    from offline.eval.protocol import protocol_for
    from offline.eval.slices import validation_of
    from offline.report.bundle_guard import check_out_of_sample
    from offline.report.bundle_model import BundleModel
    from offline.report.tradeoff import sweep

    started = time.perf_counter()
    bundle_dir, data_dir = Path(bundle_dir), Path(data_dir)
    prepared = load_prepared(data_dir)
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    per_user = prepared.split.kind == LEAVE_LAST_OUT
    val = validation_of(prepared)
    start = None if per_user else val.split.cutoff.timestamp()
    check_out_of_sample(manifest, f"validation bundle {bundle_dir}", sha256_file(data_dir / S.EVENTS_FILE),
                        start, per_user, slice_is_test=False)
    protocol = protocol_for(val, repeat_allowed=repeat_allowed, history=history)
    status("loading the bundle and folding user profiles")
    model = BundleModel(bundle_dir, val, pool=protocol.candidate_pool)
    heads = model.ranker_heads()
    modes = MODES if not str(heads.get("purchase", "")).startswith("off") else ("retrieval",)
    sweeps = {}
    for mode in modes:
        status(f"validation sweep over the {mode} order (tail boost x MMR)")
        sweeps[mode] = sweep(model, val, protocol, mode)
    chosen = choose(sweeps)
    return {
        "chosen": chosen,
        "chosen_on": f"validation slice {val.split.protocol}{protocol.name} "
                     f"({len(protocol.warm_users):,} warm users)",
        "rule": "ranking_mode: best plain-order NDCG@10; tail_boost, diversity: most tail share@10 "
                "within a 5 % NDCG@10 loss of that order",
        "bundle": {"path": str(bundle_dir), "version": manifest.get("version"),
                   "training_cut": manifest.get("training_cut", {})},
        "data": str(data_dir),
        "ranker_heads": heads,
        "sweeps": {m: {k: s[k] for k in ("base", "best", "points")} for m, s in sweeps.items()},
        "seconds": round(time.perf_counter() - started, 1),
    }


def serve_config_yaml(result: dict[str, Any]) -> str:
    """The chosen values as a `fulcrum serve --config` fragment, with where they came from."""
    c = result["chosen"]
    s = result["sweeps"][c["ranking_mode"]]
    lines = [
        f"# chosen on the {result['chosen_on']} by `fulcrum choose-serving`",
        f"# validation bundle {result['bundle']['version']}; rule: {result['rule']}",
        f"# validation NDCG@10 {s['best']['ndcg@10']:.4f} (plain order {s['base']['ndcg@10']:.4f}), "
        f"tail share@10 {s['best']['tail_share@10']:.3f}",
    ]
    lines += [f"{k}: {c[k]}" for k in CHOSEN_FIELDS]
    return "\n".join(lines) + "\n"


def choice_markdown(result: dict[str, Any]) -> str:
    c = result["chosen"]
    lines = [
        f"# Serving ordering chosen on validation ({result['chosen_on']})",
        "",
        f"Chosen: `ranking_mode: {c['ranking_mode']}`, `tail_boost: {c['tail_boost']}`, "
        f"`diversity: {c['diversity']}` (rule: {result['rule']}).",
        "",
        "| mode | plain NDCG@10 | plain tail share@10 | chosen boost | chosen MMR | NDCG@10 "
        "| tail share@10 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for mode, s in result["sweeps"].items():
        b, p = s["base"], s["best"]
        lines.append(f"| {mode} | {b['ndcg@10']:.4f} | {b['tail_share@10']:.3f} | {p['boost']} | "
                     f"{p['mmr_weight']} | {p['ndcg@10']:.4f} | {p['tail_share@10']:.3f} |")
    return "\n".join(lines) + "\n"
