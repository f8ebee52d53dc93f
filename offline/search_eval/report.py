"""evaluate-search output: ``search_eval.json`` (everything) and ``search_eval.md`` (tables)."""

from __future__ import annotations

import json
from pathlib import Path


def _ci(cell: dict) -> str:
    if cell.get("mean") is None:
        return "–"
    return f"{cell['mean']:.3f} [{cell['low']:.3f}, {cell['high']:.3f}]"


def _plain(cell: dict) -> str:
    return "–" if cell.get("mean") is None else f"{cell['mean']:.2f}"


def split_table(split: dict) -> list[str]:
    systems = list(split["systems"])
    groups = list(next(iter(split["systems"].values()))["summary"])
    lines = []
    head = "| kind (n) | " + " | ".join(f"{s} NDCG@10 [95 % CI] | judged@10" for s in systems) + " |"
    lines += [head, "|" + "---|" * (1 + 2 * len(systems))]
    for g in groups:
        n = split["systems"][systems[0]]["summary"][g]["ndcg@10"]["n"]
        cells = []
        for s in systems:
            row = split["systems"][s]["summary"][g]
            cells += [_ci(row["ndcg@10"]), _plain(row["judged@10"])]
        lines.append(f"| {g} ({n}) | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| kind | " + " | ".join(f"{s} R@50 / MRR / zero-result" for s in systems) + " |",
        "|" + "---|" * (1 + len(systems)),
    ]
    for g in groups:
        cells = []
        for s in systems:
            row = split["systems"][s]["summary"][g]
            cells.append(f"{_plain(row['recall@50'])} / {_plain(row['mrr'])} / {_plain(row['zero_result'])}")
        lines.append(f"| {g} | " + " | ".join(cells) + " |")
    if split.get("paired"):
        lines += [
            "",
            "Paired bootstrap, NDCG@10 difference (Fulcrum Search minus baseline), 95 % CI:",
            "",
            "| kind | " + " | ".join(split["paired"]) + " |",
            "|" + "---|" * (1 + len(split["paired"])),
        ]
        for g in groups:
            cells = []
            for b in split["paired"]:
                d = split["paired"][b][g]
                cells.append(f"{d['mean']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]")
            lines.append(f"| {g} | " + " | ".join(cells) + " |")
    return lines


def markdown(result: dict) -> str:
    lines = [f"# Search evaluation: {result['bundle_version']}", ""]
    lines += [
        f"- queries: {result['queries']} ({result['queries_file']}), judgments: {result['judgments']}",
        "- unjudged items count as grade 0; NDCG@10 gain 2^grade - 1; Recall@50 of grade >= 2; "
        "MRR of the first grade-3 item",
        f"- fusion: {result['fusion']['chosen']}, dense only for words the catalogue lacks: "
        f"{result['fusion']['dense_only_for_unknown_words']} ({result['fusion']['how']})",
        f"- lexical index: {result['lexical_index']}; query encoder: {result['query_encoder']}",
        f"- validation split: {len(result['validation_ids'])} queries (sha256 of query_id < "
        f"{result['validation_fraction']}); test: {result['test_count']} queries",
        "",
    ]
    for name, split in result["splits"].items():
        lines += [f"## {name}", "", *split_table(split), ""]
    lines += [
        "## Latency (in-process, one query at a time, ms)",
        "",
        "| system | p50 | p99 | mean |",
        "|---|---|---|---|",
    ]
    for s, lat in result["latency"].items():
        lines.append(f"| {s} | {lat['p50_ms']:.2f} | {lat['p99_ms']:.2f} | {lat['mean_ms']:.2f} |")
    if result.get("personalisation"):
        p = result["personalisation"]
        lines += [
            "",
            "## Personalisation for unrelated users",
            "",
            f"{p['users']} users with {p['history']} random purchases each, weight {p['weight']}: "
            f"NDCG@10 {p['personalised_ndcg@10']:.4f} vs anonymous {p['anonymous_ndcg@10']:.4f} "
            f"(difference {p['difference']:+.4f}, all queries).",
        ]
    if result["fusion"].get("grid"):
        lines += [
            "",
            "## Fusion grid (validation queries only)",
            "",
            "| fusion | dense only for unknown words | NDCG@10 |",
            "|---|---|---|",
        ]
        lines += [
            f"| {r['fusion']} | {r['dense_only_for_unknown_words']} | {r['validation_ndcg@10']:.4f} |"
            for r in result["fusion"]["grid"]
        ]
    return "\n".join(lines) + "\n"


def write(result: dict, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    j, m = out / "search_eval.json", out / "search_eval.md"
    j.write_text(json.dumps(result, indent=2) + "\n")
    m.write_text(markdown(result))
    return j, m
