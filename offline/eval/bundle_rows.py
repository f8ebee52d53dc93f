"""A trained bundle's rows in the quality comparison: the serving default and the towers alone.

Computed through the code `fulcrum evaluate --bundle` uses (``offline.report.bundle_model``
folds the users' profiles and runs the bundle's ONNX graphs; ``offline.report.tradeoff.
recommend_fn`` orders the candidates with the pure functions Recommend calls), after the same
out-of-sample guard (``offline.report.run.guard_bundle``):

- **serving default**: every ordering default of ``online.config.ServeConfig`` -- the
  ``ranking_mode`` (the hybrid retrieval score when the bundle has one), ``blend_weight``,
  ``cancel_risk_weight``, ``tail_boost`` and the MMR ``diversity``;
- **towers alone**: the same bundle with the hybrid weights at zero, ordered by the two-tower
  cosine, no re-rank: what the trained encoders earn by themselves.

The fit time of these rows is the training wall time the bundle's manifest records.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SERVING = "Fulcrum (serving default)"
TOWERS = "Fulcrum (towers alone)"
#: each row's kind: what a control bundle's row is compared with (``control_label``)
KINDS = {SERVING: "serving default", TOWERS: "towers alone"}


def row_name(label: str, kind: str) -> str:
    """A bundle row's name: ``"Fulcrum (serving default)"``, ``"Control V (towers alone)"``."""
    return f"{label} ({kind})"


def control_label(manifest: dict, taken: set[str]) -> str:
    """``"Control <bundle version>"``; a second control with the same version is refused (the
    same bundle twice would only compare it with itself)."""
    label = f"Control {manifest.get('version') or 'unversioned'}"
    if label in taken:
        raise ValueError(f"{label}: two control bundles with the same version")
    return label
ORDER_FIELDS = ("ranking_mode", "blend_weight", "cancel_risk_weight", "tail_boost", "diversity")


def serving_ordering(config: Path | None = None) -> dict[str, Any]:
    """The ordering `fulcrum serve` starts with: the defaults of fulcrum/core/serving_defaults.py,
    overridden by the ordering fields of a serve config file (e.g. `fulcrum choose-serving`'s
    serving.yaml, chosen on validation); other fields of the file are ignored here."""
    import yaml

    from fulcrum.core import serving_defaults as sd

    order = {name: getattr(sd, name.upper()) for name in ORDER_FIELDS}
    if config is None:
        return order
    try:
        raw = yaml.safe_load(Path(config).read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"{config}: cannot read the serve config ({e})") from e
    if not isinstance(raw, dict):
        raise ValueError(f"{config}: expected a mapping of serve config fields")
    for name in ORDER_FIELDS:
        if name not in raw:
            continue
        value = raw[name]
        if name == "ranking_mode":
            if value not in ("retrieval", "ranker", "blend"):
                raise ValueError(f"{config}: ranking_mode = {value!r}: expected retrieval, ranker or blend")
        elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"{config}: {name} = {value!r}: expected a number >= 0")
        order[name] = value if name == "ranking_mode" else float(value)
    return order


def training_seconds(manifest: dict) -> float | None:
    """The manifest's training wall time: ``total_s``, else the sum of the stage timings."""
    timings = (manifest.get("metrics") or {}).get("timings") or {}
    if isinstance(timings.get("total_s"), int | float):
        return round(float(timings["total_s"]), 3)
    values = [float(v) for v in timings.values() if isinstance(v, int | float)]
    return round(sum(values), 3) if values else None


def bundle_rows(bundle_dir: Path, data_dir: Path, prepared, protocol, k_list=(10, 20),
                status: Callable[[str], None] = lambda s: None,
                serving_config: Path | None = None, label: str = "Fulcrum") -> dict[str, dict]:
    """``{row name: result entry with "per_user"}`` for the bundle on ``prepared``'s test split;
    ``serving_config``: a serve config whose ordering fields the serving row uses; ``label``
    names the rows (``"Fulcrum"``, or a control bundle's ``control_label``), each entry's
    ``"kind"`` says which of the two it is."""
    from offline.eval.harness import evaluate_recommender
    from offline.report.bundle_model import BundleModel
    from offline.report.run import guard_bundle
    from offline.report.tradeoff import recommend_fn

    bundle_dir = Path(bundle_dir)
    guard_bundle(bundle_dir, data_dir, prepared)
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    status("loading the bundle and folding user profiles")
    started = time.perf_counter()
    model = BundleModel(bundle_dir, prepared, pool=protocol.candidate_pool)
    load_seconds = time.perf_counter() - started
    order = serving_ordering(serving_config)
    rows = {
        KINDS[SERVING]: (model, order["ranking_mode"], {
            "boost": order["tail_boost"], "mmr_weight": order["diversity"],
            "blend_weight": order["blend_weight"], "cancel_risk_weight": order["cancel_risk_weight"]}),
        KINDS[TOWERS]: (model.without_hybrid(), "retrieval", {}),
    }
    out: dict[str, dict] = {}
    for kind, (row_model, relevance, knobs) in rows.items():
        name = row_name(label, kind)
        status(f"evaluating {name}")
        t = time.perf_counter()
        metrics = evaluate_recommender(recommend_fn(row_model, protocol.head_items, relevance, **knobs),
                                       prepared, k_list=k_list, protocol=protocol, per_user=True)
        out[name] = {
            "kind": kind,
            "settings": {"bundle": manifest.get("version"), "ranking_mode": relevance,
                         "hybrid": row_model.cat.hybrid.active, **knobs},
            "tuning": {"tuned": False, "note": "trained and chosen by `fulcrum train` (validation)"},
            "ordering_source": (f"serve config {serving_config}" if serving_config is not None
                                else "built-in defaults (fulcrum/core/serving_defaults.py)")
            if kind == KINDS[SERVING] else "towers alone: cosine order, no re-rank",
            "fit_seconds": training_seconds(manifest),
            "fit_source": "bundle manifest metrics.timings (training wall time)",
            "load_seconds": round(load_seconds, 3),
            "score_seconds": metrics["recommend_seconds"],
            "total_seconds": round(time.perf_counter() - t, 3),
            "metrics": metrics,
        }
    return out
