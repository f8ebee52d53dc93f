"""quality.md from the `run_quality` payload. Pure formatting: no computation here."""

from __future__ import annotations

import math
from typing import Any

#: (column header, section, metric key)
METRIC_COLUMNS = (
    ("NDCG@10", "warm", "ndcg@10"),
    ("Recall@10", "warm", "recall@10"),
    ("coverage@10", "warm", "coverage@10"),
    ("tail share@10", "warm", "tail_share@10"),
    ("cold Recall@10", "cold", "recall@10"),
)


def _f(v: Any, nd: int = 4) -> str:
    return "-" if v is None else f"{float(v):.{nd}f}"


def _interval(r: dict | None) -> str:
    if not r:
        return "-"
    if r.get("low") is None:
        return "undefined (both score 0)"
    if r.get("ratio") is None:
        return "undefined (the baseline scores 0)"
    return f"{r['ratio']:.2f}× [{_bound(r['low'])}, {_bound(r['high'])}]"


def _bound(x: float) -> str:
    """An interval end; a resample where the baseline scores 0 makes the upper end infinite."""
    return "∞" if math.isinf(x) else f"{x:.2f}"


def _settings(entry: dict) -> str:
    tuning = entry.get("tuning") or {}
    chosen = tuning.get("chosen")
    if chosen:
        return "tuned: " + ", ".join(f"{k} {v}" for k, v in chosen.items())
    if "bundle" in entry.get("settings", {}):
        s = entry["settings"]
        return ", ".join(f"{k} {s[k]}" for k in ("ranking_mode", "hybrid", "boost", "mmr_weight") if k in s)
    return "reference settings"


def quality_markdown(p: dict[str, Any]) -> str:
    lines = [
        f"# Quality: {p['protocol']} ({p['variant']}, history: {p.get('history', 'purchases')})",
        "",
        "Targets: the test purchases; a user's history, the candidate pool and the head items come "
        + ("from every positive train interaction (views, clicks, add-to-carts, purchases). "
           if p.get("history") == "interactions" else "from the train purchases. ")
        + f"{p['users']['warm']:,} warm test users, {p['users']['cold']:,} cold; candidate pool "
        f"{p['candidate_pool']:,} items. Baselines "
        + ("tuned on the validation slice (carved from train), never the test." if p["tuned_on_validation"]
           else "at their reference settings (not tuned).")
        + f" Baselines learn from: {p.get('baseline_signal', 'purchases')}.",
        "",
        "| row | " + " | ".join(c[0] for c in METRIC_COLUMNS) + " | settings | fit s | score s |",
        "|---|" + "---:|" * len(METRIC_COLUMNS) + "---|---:|---:|",
    ]
    for name, e in p["rows"].items():
        if "skipped" in e:
            lines.append(f"| {name} | " + " | ".join("-" for _ in METRIC_COLUMNS)
                         + f" | not applicable: {e['skipped']} | - | - |")
            continue
        m = e["metrics"]
        cells = [_f(m.get(sec, {}).get(key)) for _, sec, key in METRIC_COLUMNS]
        fit = e.get("fit_seconds")
        tune = (e.get("tuning") or {}).get("seconds")
        fit_cell = "-" if fit is None else f"{fit:.1f}" + (f" (+{tune:.0f} tuning)" if tune else "")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {_settings(e)} | {fit_cell} | "
                     f"{e.get('score_seconds', 0.0):.1f} |")
    sources = [f"{n}: {e['ordering_source']}" for n, e in p["rows"].items() if e.get("ordering_source")]
    if sources:
        lines += ["", "Ordering of the model rows: " + "; ".join(sources) + "."]
    if p["ratios"]:
        ref = p.get("ratio_reference")
        lines += [
            "",
            "Ratios with paired bootstrap 95 % intervals (users resampled, "
            f"{p['bootstrap']['resamples']} resamples)"
            + (f"; no model row, so each baseline over the best baseline, **{ref}**:" if ref else ":"),
            "",
            "| row | over | NDCG@10 ratio [95 % CI] | Recall@10 ratio [95 % CI] |",
            "|---|---|---|---|",
        ]
        for r in p["ratios"]:
            lines.append(f"| {r['numerator']} | {r['denominator']} | {_interval(r.get('ndcg@10'))} | "
                         f"{_interval(r.get('recall@10'))} |")
    load = p["machine"]
    lines += ["", f"Wall time {p['seconds']:.0f} s on {load['cpus']} CPUs; load average (1, 5, 15 min) "
              f"{load['load_average_start']} at the start, {load['load_average_end']} at the end.", ""]
    return "\n".join(lines)
