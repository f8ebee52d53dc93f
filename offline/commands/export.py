"""`fulcrum export`: a run folder -> a verified, versioned bundle folder.

    fulcrum export --run artifacts/run --out artifacts/bundles

Writes ``<out>/<version>/`` (version = UTC time + short content hash) and points ``<out>/LATEST``
at it. The ONNX graphs are checked against PyTorch on real inputs first; a failing bundle is
refused (exit code 1) and nothing is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def export_run(
    run: Path, out: Path, int8_min_cosine: float | None = None, ann_min_items: int | None = None
) -> Path:
    from rich.console import Console
    from rich.table import Table

    from fulcrum.core.tables import print_table
    from offline.export.bundle import export_bundle
    from offline.export.errors import ExportError

    try:
        bundle = export_bundle(run, out, int8_min_cosine=int8_min_cosine, ann_min_items=ann_min_items)
    except ExportError as e:
        typer.secho(f"export refused: {e}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from None
    import json

    m = json.loads((bundle / "manifest.json").read_text())
    size = sum(p.stat().st_size for p in bundle.iterdir() if p.is_file())
    table = Table(title=f"fulcrum export -> {bundle}")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("version", m["version"])
    table.add_row("bundle size", f"{size / 1e6:.1f} MB")
    for name, diff in m["metrics"]["parity_max_abs_diff"].items():
        table.add_row(f"parity {name} max |ORT - torch|", f"{diff:.2e}")
    q = m["metrics"]["int8_item_encoder"]
    table.add_row("int8 item encoder cosine (mean / min)", f"{q['cosine_mean']:.4f} / {q['cosine_min']:.4f}")
    table.add_row("int8 speed-up", f"{q['speedup']:.2f}x")
    table.add_row("int8 kept", str(q["kept"]))
    print_table(Console(), table)
    return bundle


def export(
    run: Annotated[Path, typer.Option(help="Run folder written by `fulcrum train`.")] = Path("artifacts/run"),
    out: Annotated[Path, typer.Option(help="Folder receiving <version>/ and LATEST.")] = Path(
        "artifacts/bundles"
    ),
    int8_min_cosine: Annotated[
        float | None, typer.Option(help="Override the config's int8 cosine bar.")
    ] = None,
    ann_min_items: Annotated[
        int | None,
        typer.Option(min=1, help="Build ANN indexes for catalogues of at least this many items (10,000)."),
    ] = None,
) -> None:
    """Export ONNX graphs, tokenizer, item table and manifest as a bundle."""
    if not run.is_dir():
        typer.secho(
            f"error: --run {run}: folder not found (run `fulcrum train --out {run}` first)",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(code=2)
    export_run(run, out, int8_min_cosine, ann_min_items)
