"""`fulcrum ablate`: the ranking head's imbalance ablation on a prepared data folder.

Writes ``ablation.json`` (every arm's validation and test metrics, the chosen default) and
``ablation.md`` (the table) to ``--out``; ``fulcrum evaluate --bundle`` folds them into its report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ABLATION_JSON = "ablation.json"
ABLATION_MD = "ablation.md"
DEFAULT_DATA = Path("artifacts") / "data"
DEFAULT_OUT = Path("artifacts") / "ranking"


def ablate(
    data: Annotated[Path, typer.Option(help="Prepared data folder (fulcrum data prepare).")] = DEFAULT_DATA,
    out: Annotated[Path, typer.Option(help="Folder for ablation.json and ablation.md.")] = DEFAULT_OUT,
    method: Annotated[list[str] | None, typer.Option(
        "--method", "-m",
        help="Imbalance methods to compare (repeatable; default: all). The control 'ce' always runs.",
    )] = None,
    config: Annotated[Path | None, typer.Option(
        help="YAML with ranker config fields (e.g. the 'ranker' part of best.yaml).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Override the config's epochs.")] = None,
) -> None:
    """Compare every imbalance method with plain cross-entropy on the ranking head."""
    import json
    import time

    from rich.console import Console

    from offline.commands.ranker_options import load_ranker_config, ranking_cache_dir
    from offline.data.errors import DataError
    from offline.ranking.ablation import ablation_markdown, run_ablation
    from offline.ranking.config import METHODS
    from offline.ranking.slices import load_or_build_slices

    console, err = Console(), Console(stderr=True)
    method = method or []
    bad = [m for m in method if m not in METHODS]
    if bad:
        raise typer.BadParameter(
            f"unknown method(s) {bad}; allowed: {', '.join(METHODS)}", param_hint="--method"
        )
    cfg = load_ranker_config(config)
    if epochs is not None:
        if epochs < 1:
            raise typer.BadParameter("must be >= 1", param_hint="--epochs")
        cfg = cfg.replace(epochs=epochs)
    t0 = time.perf_counter()
    try:
        with console.status("building point-in-time ranking rows"):
            slices = load_or_build_slices(data, cfg, cache_dir=ranking_cache_dir(data))
    except DataError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    rows_s = time.perf_counter() - t0
    methods = list(method) or list(METHODS)
    from offline.stage_error import StageError

    try:
        with console.status("ablation") as status:
            result = run_ablation(
                slices,
                cfg,
                methods,
                on_arm=lambda m, r: status.update(
                    f"{m}: test cancel PR-AUC {r['test']['cancel']['pr_auc']:.4f} ({r['seconds']:.0f} s)"
                ),
            )
    except StageError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    out.mkdir(parents=True, exist_ok=True)
    payload = result.to_dict() | {
        "rows_summary": slices.summary(),
        "rows_seconds": rows_s,
        "total_seconds": time.perf_counter() - t0,
    }
    (out / ABLATION_JSON).write_text(json.dumps(payload, indent=2, default=float) + "\n")
    md = ablation_markdown(result)
    (out / ABLATION_MD).write_text(md)
    console.print(md)
    console.print(f"rows {rows_s:.0f} s, total {payload['total_seconds']:.0f} s; wrote {out / ABLATION_JSON}")
