"""The whole quality comparison on one prepared folder: model rows, every baseline, intervals.

``run_quality`` evaluates, on the prepared split's test (or ``validation=True``: its validation
slice), the bundle's rows (offline/eval/bundle_rows.py) when a bundle is given and the
baselines (offline/baselines/registry.py, tuned on the validation slice), then adds paired
bootstrap 95 % intervals (offline/eval/bootstrap.py) for the ratios of NDCG@10 and Recall@10:

- with a bundle: every model row over every baseline, and over the same kind of row (serving
  default, towers alone) of each control bundle (``controls``: e.g. the same training with one
  setting changed, or the bundle serving today), so a change is judged paired on the same users;
- without: every baseline over the best baseline (by NDCG@10), which shows which baselines are
  statistically level with the best.

The result is one JSON-ready payload (per-user values dropped) with the machine's load average
at the start and the end, so timings can be read against it.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RATIO_METRICS = ("ndcg@10", "recall@10")


def _load() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover - platforms without a load average
        return None


def ratios(rows: dict[str, dict], baselines: dict[str, dict], resamples: int, seed: int = 0,
           controls: dict[str, dict] | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """(ratio entries, the reference baseline when there is no model row); each model row is also
    put over the control rows of its own ``kind``."""
    from offline.eval.bootstrap import paired_ratio_interval

    usable = {n: e for n, e in baselines.items() if "per_user" in e.get("metrics", {})}
    reference = None
    numerators = {n: e for n, e in rows.items() if "per_user" in e.get("metrics", {})}
    denominators = usable
    if not numerators and usable:
        reference = max(usable, key=lambda n: usable[n]["metrics"]["warm"]["ndcg@10"])
        numerators = {n: e for n, e in usable.items() if n != reference}
        denominators = {reference: usable[reference]}
    pairs = [(a, b) for a in numerators for b in denominators]
    if rows:
        pairs += [(a, b) for a in numerators for b, e in (controls or {}).items()
                  if "per_user" in e.get("metrics", {}) and e.get("kind") == rows[a].get("kind")]
    everything = {**numerators, **denominators, **(controls or {})}
    out = []
    for a_name, b_name in pairs:
        a, b = everything[a_name], everything[b_name]
        pa, pb = a["metrics"]["per_user"], b["metrics"]["per_user"]
        if pa["users"] != pb["users"]:
            raise ValueError(f"ratios: {a_name} and {b_name} were scored on different users")
        entry: dict[str, Any] = {"numerator": a_name, "denominator": b_name}
        for metric in RATIO_METRICS:
            if not pa["users"]:
                entry[metric] = None
                continue
            entry[metric] = paired_ratio_interval(pa[metric], pb[metric], resamples=resamples, seed=seed)
        out.append(entry)
    return out, reference


def run_quality(
    data_dir: Path,
    bundle: Path | None = None,
    baselines: Sequence[str] = (),
    tune: bool = True,
    validation: bool = False,
    repeat_allowed: bool = False,
    context=None,
    resamples: int = 2000,
    k_list: Sequence[int] = (10, 20),
    signal: str = "interactions",
    status: Callable[[str], None] = lambda s: None,
    history: str = "purchases",
    serving_config: Path | None = None,
    controls: Sequence[Path] = (),
) -> dict[str, Any]:
    from offline.baselines.registry import run_baselines
    from offline.data.dataset import load_prepared
    from offline.eval.protocol import protocol_for
    from offline.eval.slices import validation_of

    started = time.perf_counter()
    load_start = _load()
    prepared = load_prepared(data_dir)
    if validation:
        prepared = validation_of(prepared)
    protocol = protocol_for(prepared, repeat_allowed=repeat_allowed, history=history)
    models: dict[str, dict] = {}
    if bundle is not None:
        from offline.eval.bundle_rows import bundle_rows

        models = bundle_rows(bundle, data_dir, prepared, protocol, k_list=k_list, status=status,
                             serving_config=serving_config)
    control_rows: dict[str, dict] = {}
    for control in controls:
        from offline.eval.bundle_rows import bundle_rows, control_label

        label = control_label(json.loads((Path(control) / "manifest.json").read_text()),
                              {n.rsplit(" (", 1)[0] for n in control_rows})
        control_rows.update(bundle_rows(control, data_dir, prepared, protocol, k_list=k_list,
                                        status=status, serving_config=serving_config, label=label))
    base = run_baselines(prepared, list(baselines), k_list=k_list, protocol=protocol, tune=tune,
                         context=context, per_user=True, skip_inapplicable=True, signal=signal,
                         on_start=lambda n: status(f"baseline {n} ({'tuning and ' if tune else ''}fitting)"))
    status("bootstrap intervals")
    ratio_list, reference = ratios(models, base, resamples, controls=control_rows)
    rows = {**models, **control_rows, **base}
    for entry in rows.values():
        entry.get("metrics", {}).pop("per_user", None)
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": str(data_dir),
        "bundle": str(bundle) if bundle is not None else None,
        "protocol": prepared.split.protocol,
        "split_kind": prepared.split.kind,
        "variant": "repeat-allowed" if repeat_allowed else "discovery",
        "history": history,
        "users": {"warm": len(protocol.warm_users), "cold": len(protocol.cold_users)},
        "candidate_pool": len(protocol.candidate_pool),
        "tuned_on_validation": tune,
        "baseline_signal": signal,
        "model_rows": list(models),
        "control_rows": list(control_rows),
        "controls": [str(c) for c in controls],
        "rows": rows,
        "ratios": ratio_list,
        "ratio_reference": reference,
        "bootstrap": {"resamples": resamples, "level": 0.95, "unit": "warm users, paired"},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average_start": load_start, "load_average_end": _load()},
        "seconds": round(time.perf_counter() - started, 1),
    }
