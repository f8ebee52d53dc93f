"""`fulcrum train`: prepared data + YAML config -> a run folder (and optionally a bundle).

    fulcrum train --data artifacts/data --config my.yaml --out artifacts/run [--bundle-out artifacts/bundles]

Without ``--config`` the embedded defaults of offline/train_config.py are used. ``--bundle-out``
runs ``fulcrum export`` on the fresh run folder right away.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=code)


def _summary(info: dict, run_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from fulcrum.core.tables import print_table

    m = info["metrics"]
    table = Table(title=f"fulcrum train -> {run_dir}")
    table.add_column("what")
    table.add_column("value", justify="right")
    c = info["counts"]
    table.add_row("items / users / train events", f"{c['items']:,} / {c['users']:,} / {c['train_events']:,}")
    table.add_row("training examples / text pairs", f"{c['examples']:,} / {c['text_pairs']:,}")
    h = info.get("hybrid")
    if h:
        best = max(h["validation_grid"], key=lambda p: p["ndcg@10"], default=None)
        table.add_row(
            "hybrid weights (neighbours / trend)",
            f"{h['neighbour_weight']:g} / {h['trend_weight']:g}"
            + (f", repeat {h['repeat_weight']:g}" if "repeat_weight" in h else "")
            + (f" (half-life {h['repeat_half_life_days']:g} d, cart/purchase x{h['repeat_engaged_weight']:g})"
               if "repeat_half_life_days" in h else "")
            + f" ({h['chosen_on']})",
        )
        if best is not None:
            table.add_row("validation NDCG@10 with hybrid", f"{best['ndcg@10']:.4f}")
    for name in ("validation", "test_selfcheck", "test_selfcheck_hybrid"):
        v = m.get(name) or {}
        if v:
            table.add_row(
                f"{name} NDCG@10 / Recall@10", f"{v.get('ndcg@10', 0):.4f} / {v.get('recall@10', 0):.4f}"
            )
            table.add_row(
                f"{name} coverage@10 / tail share@10",
                f"{v.get('coverage@10', 0):.3f} / {v.get('tail_share@10', 0):.3f}",
            )
    table.add_row("best epoch", str(m.get("best_epoch")))
    for stage, what in (info.get("stages") or {}).items():
        table.add_row(f"stage {stage}", what)
    for k, v in info["timings"].items():
        table.add_row(f"time {k.removesuffix('_s')}", f"{v:.1f} s")
    if info.get("stopped_early"):
        table.add_row("[yellow]stopped early[/yellow]", info["stopped_early"])
    print_table(Console(), table)


def train(
    data: Annotated[Path, typer.Option(help="Prepared data folder (fulcrum data prepare).")] = Path(
        "artifacts/data"
    ),
    config: Annotated[
        Path | None, typer.Option(help="YAML training config; omitted = embedded defaults.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Run folder to write.")] = Path("artifacts/run"),
    bundle_out: Annotated[Path | None, typer.Option(help="Also export a bundle into this folder.")] = None,
    progress: Annotated[bool, typer.Option(help="Progress bars.")] = True,
    no_ranker: Annotated[bool, typer.Option(
        "--no-ranker",
        help="Switch the ranking head off (the bundle's ranker returns 0; serve with ranking_mode "
        "retrieval). Without it, a head that cannot be trained stops the run.")] = False,
) -> None:
    """Train the retrieval two towers (+ ranking head) and write a run folder.

    A stage that cannot do its job (no training examples, no validation slice for the hybrid
    weights, no labels for the ranking head, a failed fit) stops the run with exit code 1 and
    one line naming the cause and the fix; nothing falls back to a weaker model silently."""
    from offline.model.interactions import MissingDataError
    from offline.stage_error import StageError
    from offline.train_config import ConfigError, load_config

    try:
        cfg = load_config(config)
        if no_ranker:
            cfg = cfg.model_copy(update={"ranker": "off"})
        cfg.resolved_model_path()
    except ConfigError as e:
        raise _fail(str(e)) from None
    if not data.is_dir():
        raise _fail(f"--data {data}: folder not found (run `fulcrum data prepare --out {data}` first)")
    from offline.model.train_run import train_run

    try:
        summary = train_run(data, cfg, out, progress=progress)
    except MissingDataError as e:
        raise _fail(str(e)) from None
    except StageError as e:
        raise _fail(str(e), code=1) from None
    _summary(summary.info, summary.run_dir)
    if bundle_out is not None:
        from offline.commands.export import export_run

        export_run(summary.run_dir, bundle_out)
