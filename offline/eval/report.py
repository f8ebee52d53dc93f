"""Present evaluation results: one rich table and one JSON file for any mix of recommenders.

A result entry (what `run_baselines` returns per name, and what a model evaluation should return
too) is ``{"settings": {...}, "fit_seconds": s, "total_seconds": s, "metrics": harness result}``.
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path

RESULTS_FILE = "results.json"

#: (row label, section, metric key) in table order
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("NDCG@10", "warm", "ndcg@10"),
    ("Recall@10", "warm", "recall@10"),
    ("HitRate@10", "warm", "hit_rate@10"),
    ("NDCG@20", "warm", "ndcg@20"),
    ("Recall@20", "warm", "recall@20"),
    ("HitRate@20", "warm", "hit_rate@20"),
    ("coverage@10", "warm", "coverage@10"),
    ("tail share@10", "warm", "tail_share@10"),
    ("cold Recall@10", "cold", "recall@10"),
)


def results_table(results: dict[str, dict], title: str):
    """Metrics as rows, recommenders as columns (stays narrow for a handful of recommenders)."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    for name in results:
        table.add_column(name, justify="right")
    for label, section, key in COLUMNS:
        cells = []
        for entry in results.values():
            value = entry["metrics"].get(section, {}).get(key)
            cells.append("-" if value is None else f"{value:.4f}")
        table.add_row(label, *cells)
    table.add_row("fit time (s)", *[f"{e.get('fit_seconds', 0.0):.1f}" for e in results.values()])
    table.add_row("run time (s)", *[f"{e.get('total_seconds', 0.0):.1f}" for e in results.values()])
    return table


def write_results(out_dir: Path, results: dict[str, dict], prepared, data_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / RESULTS_FILE
    payload = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": str(data_dir),
        "protocol": prepared.split.protocol,
        "split": {"cutoff": prepared.split.to_dict()["cutoff"], "counts": prepared.split.counts},
        "python": platform.python_version(),
        "results": results,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
