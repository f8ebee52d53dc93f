"""report.md from the evaluation payload (see run.py). Pure formatting: no computation here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from offline.eval.report import COLUMNS

NDCG_BAR = 1.2
TAIL_GOAL = 0.35


def _f(v: Any, nd: int = 4) -> str:
    return "-" if v is None else f"{float(v):.{nd}f}"


def _is_serving_default(entry: dict[str, Any]) -> bool:
    return bool(entry.get("settings", {}).get("serving_default"))


def serving_sentence(p: dict[str, Any]) -> str:
    """Which model row is the order `fulcrum serve` uses by default (online.config)."""
    serving = p.get("serving") or {}
    mode = serving.get("ranking_mode")
    if mode is None:
        return ""
    rows = [n for n, e in p["recommenders"].items() if _is_serving_default(e)]
    where = f"the `{rows[0]}` row" if rows else "no row of this report"
    cancel = serving.get("cancel_risk_weight", 0.0)
    extra = f", minus {cancel} x cancel_prob" if cancel else ""
    return (
        f"The server's default order (`ranking_mode: {mode}`{extra}, `online/config.py`) is {where}, "
        "labelled **(serving default)**; the built-in ordering defaults were chosen on a validation "
        "slice (fulcrum/core/serving_defaults.py), a shop's own choice is `fulcrum choose-serving`."
    )


def recommenders_table(results: dict[str, Any]) -> list[str]:
    # the harness's columns (offline.eval.report.COLUMNS), with novelty and diversity before the
    # cold-user columns and cold NDCG after them
    warm = [c for c in COLUMNS if c[1] == "warm"]
    cold = [c for c in COLUMNS if c[1] == "cold"]
    cols = [
        *warm,
        ("novelty@10", "warm", "novelty@10"),
        ("ILD@10", "warm", "intra_list_diversity@10"),
        *cold,
        ("cold NDCG@10", "cold", "ndcg@10"),
    ]
    lines = ["| recommender | " + " | ".join(c[0] for c in cols) + " |", "|---|" + "---|" * len(cols)]
    for name, entry in results.items():
        m = entry["metrics"]
        label = f"{name} **(serving default)**" if _is_serving_default(entry) else name
        lines.append(f"| {label} | " + " | ".join(_f(m.get(s, {}).get(k)) for _, s, k in cols) + " |")
    return lines


def write_report(path: Path, p: dict[str, Any]) -> Path:
    from offline.ranking.ablation import BAR_ECE, BAR_GAIN

    rec = p["recommenders"]
    lines = [
        f"# Fulcrum evaluation — bundle {p['bundle']['version']}",
        "",
        f"Data `{p['data']}`, protocol {p['protocol']} (discovery): {p['users']['warm']:,} warm users, "
        f"{p['users']['cold']:,} cold users. `model` = the bundle's retrieval (top 100 over train items) "
        "ordered by its ranker (purchase probability); `model (retrieval only)` = the retrieval order "
        "itself: the hybrid score (two towers + co-purchase neighbours + trend, fulcrum/core/hybrid.py) "
        "when the bundle has one, else the cosine; `model (two towers only, no hybrid)` = the cosine "
        "of the towers alone. "
        + serving_sentence(p),
        "",
        "## Model vs baselines (OR-temporal)",
        "",
        *recommenders_table(rec),
        "",
    ]
    base = {n: e for n, e in rec.items() if not n.startswith("model")}
    if base and "model" in rec:
        best_name = max(base, key=lambda n: base[n]["metrics"]["warm"]["ndcg@10"])
        b = base[best_name]["metrics"]["warm"]["ndcg@10"]
        for name in [n for n in rec if n.startswith("model")]:
            m = rec[name]["metrics"]["warm"]["ndcg@10"]
            ratio = m / b if b > 0 else float("nan")
            label = f"{name} (serving default)" if _is_serving_default(rec[name]) else name
            lines.append(
                f"- {label}: NDCG@10 {m:.4f} = **{ratio:.2f}x** the best baseline ({best_name}, {b:.4f}); "
                f"bar {NDCG_BAR}x — {'met' if ratio >= NDCG_BAR else 'NOT met'}."
            )
        lines.append("")
    t = p["tradeoff"]
    best, b0 = t["best"], t["base"]
    others = [
        f"over the {k} order: plain NDCG@10 {o['base']['ndcg@10']:.4f} / "
        f"tail {o['base']['tail_share@10']:.3f} -> "
        f"tail {o['best']['tail_share@10']:.3f} at NDCG@10 {o['best']['ndcg@10']:.4f} "
        f"(boost {o['best']['boost']}, MMR {o['best']['mmr_weight']})"
        for k, o in p.get("tradeoffs", {}).items()
    ]
    lines += [
        "## Accuracy / tail trade-off of the re-ranker (best of grid on test)",
        "",
        "**A picture, not a choice:** this grid is swept on the test split, so its best point is the "
        "best of the grid on test and says nothing about what to deploy; the serving defaults "
        "(`ranking_mode`, `tail_boost`, `diversity` in the serve config) must be chosen on validation.",
        "",
        "Tail boost (relevance' = minmax(relevance) + boost x is_tail) then MMR over item embeddings; "
        "tail = outside the 20 % most purchased train items. "
        f"The table sweeps the **{t['relevance']}** order (the more accurate one); both orders:",
        "",
        *[f"- {o}" for o in others],
        "",
        "| boost | MMR weight | NDCG@10 | Recall@10 | tail share@10 | coverage@10 |",
        "|---|---|---|---|---|---|",
    ]
    for q in t["points"]:
        mark = (
            " **←**"
            if q is best or (q["boost"] == best["boost"] and q["mmr_weight"] == best["mmr_weight"])
            else ""
        )
        lines.append(
            f"| {q['boost']} | {q['mmr_weight']} | {_f(q['ndcg@10'])} | {_f(q['recall@10'])} | "
            f"{_f(q['tail_share@10'])}{mark} | {_f(q['coverage@10'])} |"
        )
    reach = best["tail_share@10"]
    lines += [
        "",
        f"Plain order: NDCG@10 {b0['ndcg@10']:.4f}, tail share@10 {b0['tail_share@10']:.3f}. "
        f"Within {t['max_ndcg_loss']:.0%} NDCG@10 loss (>= {t['ndcg_floor']:.4f}) "
        "the largest tail share@10 is "
        f"**{reach:.3f}** (boost {best['boost']}, MMR {best['mmr_weight']}, NDCG@10 {best['ndcg@10']:.4f}); "
        f"goal {TAIL_GOAL} — {'reached' if reach >= TAIL_GOAL else 'NOT reached'}.",
        "",
    ]
    stages, cut = p.get("stages") or {}, p.get("training_cut") or {}
    if stages or cut:
        lines += ["## What the bundle was trained with", ""]
        lines += [f"- stage `{k}`: {v}" for k, v in stages.items()]
        if cut:
            lines.append(
                f"- training cut: {cut.get('split')} split, last train event {cut.get('last_train_event')} "
                "(checked against this evaluation's cut before anything was scored)"
            )
        lines.append("")
    r = p["ranker"]["metrics"]
    lines += [
        "## The bundle's ranking head (held-out test rows)",
        "",
        "| head | rows | positive rate | PR-AUC | ROC-AUC | macro-F1 | recall 0 / 1 | ECE |",
        "|---|---|---|---|---|---|---|---|",
    ]
    heads = p["ranker"].get("heads", {})
    for head in ("purchase", "cancel"):
        m = r.get(head)
        if m is None:
            lines.append(f"| {head} | {heads.get(head, 'not evaluated')} | | | | | | |")
            continue
        lines.append(
            f"| {head} | {m['n']:,} | {m['positive_rate']:.4f} | {m['pr_auc']:.4f} | {m['roc_auc']:.4f} | "
            f"{m['macro_f1']:.3f} | {m['recall_neg']:.3f} / {m['recall_pos']:.3f} | {m['ece_cal']:.4f} |"
        )
    lines.append("")
    ab = p.get("ablation")
    lines += ["## Imbalance ablation of the ranking head", ""]
    if ab:
        from offline.ranking.ablation import AblationResult, ablation_markdown

        res = AblationResult.from_dict(ab)
        lines += [
            ablation_markdown(res),
            f"(`fulcrum ablate`, rows without the retrieval score; bar {BAR_GAIN}x {res.target} PR-AUC, "
            f"ECE <= {BAR_ECE}.)",
            "",
        ]
    else:
        lines += ["No ablation results found (run `fulcrum ablate` and pass `--ablation`).", ""]
    f = p["figures"]
    lines += ["## Figures", ""]
    lines += [f"![{name}]({f[key]})" for key, name in (
        ("pr_curves", "PR curves"), ("calibration", "calibration"),
        ("popularity_vs_exposure", "popularity vs exposure"), ("tail_tradeoff", "trade-off"),
    ) if f.get(key)]
    lines += [
        "",
        f"Evaluation took {p['seconds']:.0f} s.",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path
