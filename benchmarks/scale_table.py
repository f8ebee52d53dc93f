"""The scale benchmark's JSON as the Markdown table of docs/scaling.md (figures never edited by
hand): ``python -m benchmarks.scale_table /path/scale.json``."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path


def _load(text: str) -> str:
    m = re.search(r"load average: ([0-9.]+), ([0-9.]+), ([0-9.]+)", text or "")
    return "/".join(m.groups()) if m else "?"


def _mb(n: float | None) -> str:
    return "?" if n is None else f"{n / 1e6:.0f} MB"


def table(result: dict) -> str:
    head = (
        "| items | vectors (encoded + synthesised) | export: lexical / ANN build / total | bundle | "
        "retrieval | load (server log) / to SERVING | RSS after load / after run | Recommend p50 / p99 | "
        "Search p50 / p99 | ITEM_UPSERT via gRPC (incl. MiniLM) | catalogue+index upsert | "
        "recall@100 index / cosine / hybrid | load avg (1/5/15 min) during serving |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for row in result["rows"]:
        v = row.get("vectors", {})
        vec = (
            "source bundle" if row.get("source_bundle")
            else f"{v.get('encoded', 0):,} + {v.get('synthesised', 0):,}"
        )
        ex = row.get("export", {})
        tm = ex.get("timings", {})
        export = (
            f"{tm.get('lexical_s', '?')} s / {tm.get('ann_s', '?')} s / {ex.get('seconds', '?')} s"
            if tm else ("reused" if ex.get("reused") else "-")
        )
        s = row.get("serve", {})
        rec, sea, up = s.get("recommend", {}), s.get("search", {}), s.get("upserts", {})
        r = row.get("recall", {})
        cu = r.get("catalogue_upsert", {})
        recall = "-"
        if "index_recall@100" in r:
            parts = (r["index_recall@100"], r["serving_cosine_recall@100"], r["serving_hybrid_recall@100"])
            recall = " / ".join(f"{x:.4f}" for x in parts)
        lines.append(
            f"| {row['items']:,} | {vec} | {export} | {_mb(ex.get('bundle_bytes'))} | "
            f"{s.get('retrieval', '?')} | "
            f"{s.get('load_s', '?')} s / {s.get('ready_s', '?')} s | "
            f"{s.get('rss_after_load_mib', '?')} / {s.get('rss_end_mib', '?')} MiB | "
            f"{rec.get('p50_ms', '?')} / {rec.get('p99_ms', '?')} ms | "
            f"{sea.get('p50_ms', '?')} / {sea.get('p99_ms', '?')} ms | "
            f"{up.get('per_s', '?')} /s | {cu.get('per_s', '-')} /s | {recall} | "
            f"{_load(row.get('load_average_serve') or row.get('load_average_end', ''))} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(json.loads(Path(sys.argv[1]).read_text())))
