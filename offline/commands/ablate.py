"""`fulcrum ablate`: the ranking head's imbalance ablation on a prepared data folder.

Writes ``ablation.json`` (every arm's validation and test metrics, the ratios to the control with
their bootstrap intervals, the method chosen on validation) and ``ablation.md`` (the table) to
``--out``; ``fulcrum evaluate --bundle`` folds them into its report. ``--task auto`` takes the
cancellation head where the shop records cancellations, else purchase given an interaction where
it records views, clicks or add-to-carts, and stops with the reason when it has neither.
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
    task: Annotated[str, typer.Option(
        help="auto, cancel (the head's cancellation output) or interaction (purchase given a view, "
             "click or add-to-cart).")] = "auto",
    val_days: Annotated[float | None, typer.Option(
        help="Validation days at the end of train (time splits); default: the prepared split's "
             "validation_days, else the config's.")] = None,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples of the test rows.", min=100)] = 1000,
) -> None:
    """Compare every imbalance method with plain cross-entropy on the ranking head."""
    import json
    import time

    from rich.console import Console

    from offline.commands.ranker_options import load_ranker_config, ranking_cache_dir
    from offline.data.errors import DataError
    from offline.ranking.ablation import TARGET, TASK_TITLE, ablation_markdown, run_ablation
    from offline.ranking.config import METHODS
    from offline.ranking.slices import TASKS, load_or_build_slices

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
    if task not in ("auto", *TASKS):
        raise typer.BadParameter(f"{task!r}: expected auto, {', '.join(TASKS)}", param_hint="--task")
    t0 = time.perf_counter()
    try:
        split = read_split(data)
        if val_days is not None or split.get("validation_days"):
            days = float(val_days if val_days is not None else split["validation_days"])
            if days <= 0:
                raise typer.BadParameter("must be > 0", param_hint="--val-days")
            cfg = cfg.replace(val_days=days)
        if task == "auto":
            task = auto_task(data)
        console.print(f"task: {task} ({TASK_TITLE[task]}), validation days {cfg.val_days:g}")
        with console.status("building point-in-time ranking rows"):
            slices = load_or_build_slices(data, cfg, cache_dir=ranking_cache_dir(data), task=task)
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
                    f"{m}: test {TARGET[task]} PR-AUC {r['test'][TARGET[task]]['pr_auc']:.4f} "
                    f"({r['seconds']:.0f} s)"
                ),
                task=task,
                resamples=resamples,
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


def read_split(data: Path) -> dict:
    """The prepared folder's split.json (DataError when missing or unreadable)."""
    import json

    from fulcrum.core import schema as S
    from offline.data.errors import DataError

    path = Path(data) / S.SPLIT_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as e:
        raise DataError(str(path), "file not found (run `fulcrum data prepare` first)") from e
    except ValueError as e:
        raise DataError(str(path), f"not valid JSON ({e})") from e


def auto_task(data: Path) -> str:
    """cancel when the shop records CANCEL events, else interaction when it records views,
    clicks or add-to-carts; DataError naming both when it has neither."""
    import pandas as pd

    from fulcrum.core import schema as S
    from offline.data.errors import DataError
    from offline.ranking.interaction_rows import INTERACTION_TYPES

    path = Path(data) / S.EVENTS_FILE
    if not path.is_file():
        raise DataError(str(path), "file not found (run `fulcrum data prepare` first)")
    kinds = set(pd.read_parquet(path, columns=[S.EVENT_TYPE])[S.EVENT_TYPE].astype(str).unique())
    if S.EventType.CANCEL.value in kinds:
        return "cancel"
    if kinds & set(INTERACTION_TYPES):
        return "interaction"
    raise DataError(
        str(path),
        "no minority label to ablate: the shop records neither CANCEL events (cancellation head) nor "
        "views, clicks or add-to-carts (purchase given an interaction)",
    )
