"""The scale benchmark's JSON as the Markdown tables of docs/scaling.md (figures never edited by
hand): ``python -m benchmarks.scale_table /path/scale.json [more.json ...]`` prints the export
and recall table of the runs that built bundles, then one serving table per file."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path


def _load(text: str) -> str:
    m = re.search(r"load average: ([0-9.]+), ([0-9.]+), ([0-9.]+)", text or "")
    return " / ".join(m.groups()) if m else "?"


def _mb(n: float | None) -> str:
    return "?" if n is None else f"{n / 1e6:,.0f} MB"


def _rows(head: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)


def export_table(result: dict) -> str:
    """Export and recall of the sizes a run built (reused bundles are skipped)."""
    head = [
        "items", "vectors encoded + synthesised", "lexical index", "ANN build", "export total",
        "bundle", "recall@100: index / serving cosine / serving hybrid", "serving pool p50 (cosine / hybrid)",
        "catalogue + index upsert", "load avg during export",
    ]
    body = []
    for row in result["rows"]:
        ex = row.get("export", {})
        tm = ex.get("timings")
        if not tm:
            continue
        v, r = row.get("vectors", {}), row.get("recall", {})
        recall = "-"
        if "index_recall@100" in r:
            parts = (r["index_recall@100"], r["serving_cosine_recall@100"], r["serving_hybrid_recall@100"])
            recall = " / ".join(f"{x:.4f}" for x in parts)
        pool = f"{r.get('serving_cosine_p50_ms', '-')} / {r.get('serving_hybrid_p50_ms', '-')} ms"
        cu = r.get("catalogue_upsert", {})
        body.append([
            f"{row['items']:,}", f"{v.get('encoded', 0):,} + {v.get('synthesised', 0):,}",
            f"{tm.get('lexical_s')} s", f"{tm.get('ann_s')} s", f"{ex.get('seconds')} s",
            _mb(ex.get("bundle_bytes")), recall, pool,
            f"{cu['per_s']:,} items/s" if cu else "-", _load(row.get("load_average_export", "")),
        ])
    return _rows(head, body)


def serve_table(result: dict) -> str:
    head = [
        "items", "retrieval", "load (server log) / spawn to SERVING", "RSS after load / after run",
        "Recommend p50 / p99", "Search p50 / p99", "ITEM_UPSERT via gRPC (incl. MiniLM)",
        "load avg (1/5/15 min)",
    ]
    body = []
    for row in result["rows"]:
        s = row.get("serve", {})
        rec, sea, up = s.get("recommend", {}), s.get("search", {}), s.get("upserts", {})
        name = f"{row['items']:,}" + (" (demo bundle)" if row.get("source_bundle") else "")
        body.append([
            name, s.get("retrieval", "?"), f"{s.get('load_s')} s / {s.get('ready_s')} s",
            f"{s.get('rss_after_load_mib')} / {s.get('rss_end_mib')} MiB",
            f"{rec.get('p50_ms')} / {rec.get('p99_ms')} ms", f"{sea.get('p50_ms')} / {sea.get('p99_ms')} ms",
            f"{up.get('per_s')} items/s",
            _load(row.get("load_average_serve") or row.get("load_average_end", "")),
        ])
    return _rows(head, body)


if __name__ == "__main__":
    results = [json.loads(Path(p).read_text()) for p in sys.argv[1:]]
    for r in results:
        if any(row.get("export", {}).get("timings") for row in r["rows"]):
            print(export_table(r) + "\n")
    for r in results:
        print(serve_table(r) + "\n")
