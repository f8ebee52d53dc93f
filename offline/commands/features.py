"""`fulcrum features apply`: prepared events -> batch feature tables -> feast apply -> materialise."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

features_app = typer.Typer(
    no_args_is_help=True, help="Feast feature store: batch features, apply, materialise."
)

_REPO_ROOT = Path(__file__).resolve().parents[2]
STORES = ("sqlite", "redis")


def _default_repo() -> Path:
    local = Path("feature_repo")
    return local if (local / "feature_store.yaml").is_file() else _REPO_ROOT / "feature_repo"


def _read_events(data: Path):
    import pandas as pd

    from fulcrum.core import schema as S

    path = data / S.EVENTS_FILE
    if not path.is_file():
        raise typer.BadParameter(
            f"{path} not found (run `fulcrum data prepare --out {data}` first)", param_hint="--data"
        )
    try:
        events = pd.read_parquet(path)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's input problem
        raise typer.BadParameter(f"{path} is not a readable parquet file ({e})", param_hint="--data") from e
    missing = [c for c in (S.USER_ID, S.ITEM_ID, S.EVENT_TYPE, S.TIMESTAMP) if c not in events.columns]
    if missing:
        raise typer.BadParameter(f"{path}: missing column(s) {', '.join(missing)}", param_hint="--data")
    unknown = sorted(set(events[S.EVENT_TYPE].astype(str).unique()) - set(S.EVENT_TYPES))
    if unknown:
        raise typer.BadParameter(
            f"{path}: column {S.EVENT_TYPE} has unknown value(s) {unknown[:5]}", param_hint="--data"
        )
    items = None
    items_path = data / S.ITEMS_FILE
    if items_path.is_file():
        items = pd.read_parquet(items_path)
        if [c for c in S.ITEM_COLUMNS if c not in items.columns]:
            raise typer.BadParameter(
                f"{items_path}: expected columns {', '.join(S.ITEM_COLUMNS)}", param_hint="--data"
            )
    return events, items


@features_app.command("apply")
def apply(
    data: Annotated[
        Path, typer.Option(help="Prepared data folder (events.parquet[, items.parquet]).")
    ] = Path("artifacts/data"),
    repo: Annotated[Path | None, typer.Option(help="Feast repo (default: feature_repo/).")] = None,
    store: Annotated[str, typer.Option(help="Online store: sqlite (embedded) or redis.")] = "sqlite",
    redis_url: Annotated[
        str | None,
        typer.Option(
            help="redis://host:port or redis://host:port/DB for --store redis (default: $FULCRUM_REDIS_URL or redis://127.0.0.1:6379)."
        ),
    ] = None,
    bundle: Annotated[
        Path | None, typer.Option(help="A bundle whose item embeddings fill the item_embedding view.")
    ] = None,
    materialize: Annotated[
        str,
        typer.Option(
            help="feast: Feast's materialize-incremental (records the interval); latest: write each "
            "entity's newest row directly (same online rows, much faster)."
        ),
    ] = "feast",
    full: Annotated[
        bool, typer.Option(help="Materialise everything (feast materialize) instead of incrementally.")
    ] = False,
) -> None:
    """Compute the batch feature tables, write them as the repo's parquet sources, apply, materialise."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from fulcrum.core import feature_names as fn
    from fulcrum.core import schema as S
    from fulcrum.core.tables import print_table

    store = store.strip().lower()
    if store not in STORES:
        raise typer.BadParameter(f"{store!r} is not one of {', '.join(STORES)}", param_hint="--store")
    from offline.features.pipeline import MATERIALIZE_MODES

    if materialize not in MATERIALIZE_MODES:
        raise typer.BadParameter(
            f"{materialize!r} is not one of {', '.join(MATERIALIZE_MODES)}", param_hint="--materialize"
        )
    repo = repo or _default_repo()
    if not (repo / "feature_store.yaml").is_file():
        raise typer.BadParameter(f"{repo} is not a Feast repo (no feature_store.yaml)", param_hint="--repo")
    if bundle is not None and not bundle.is_dir():
        raise typer.BadParameter(f"{bundle} is not a folder", param_hint="--bundle")
    if redis_url is not None:
        from fulcrum.core.feature_store import redis_connection_string

        try:
            redis_connection_string(redis_url)
        except ValueError as e:
            raise typer.BadParameter(str(e), param_hint="--redis-url") from e

    console = Console()
    t0 = time.perf_counter()
    with console.status("reading prepared events"):
        events, items = _read_events(data)
    read_s = time.perf_counter() - t0
    n_snapshots = events[events[S.USER_ID].notna()].groupby([S.USER_ID, S.TIMESTAMP]).ngroups
    console.print(
        f"read {len(events):,} events, {0 if items is None else len(items):,} items "
        f"from {data} in {read_s:.1f} s"
    )

    from offline.features.pipeline import build_features

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        user_task = progress.add_task("user snapshots", total=n_snapshots)
        step_task = progress.add_task("steps", total=6)

        def on_step(name: str) -> None:
            progress.update(
                step_task, description=f"step: {name}", advance=0 if name == "user_behaviour" else 1
            )

        try:
            summary = build_features(
                events,
                repo,
                items=items,
                store=store,
                redis_url=redis_url,
                bundle=bundle,
                full_materialize=full,
                materialize_mode=materialize,
                on_step=on_step,
                user_progress=lambda n: progress.advance(user_task, n),
            )
        except ConnectionError as e:
            raise typer.BadParameter(f"cannot reach the online store: {e}", param_hint="--redis-url") from e
        progress.update(step_task, completed=6, description="done")

    table = Table(title=f"fulcrum features apply ({store}, repo {repo})")
    table.add_column("step")
    table.add_column("seconds", justify="right")
    table.add_column("rows", justify="right")
    table.add_row("read events", f"{read_s:.2f}", f"{len(events):,}")
    views = {"user_behaviour": fn.USER_BEHAVIOUR_VIEW, "item_stats": fn.ITEM_STATS_VIEW}
    for step, secs in summary.seconds.items():
        rows = summary.rows.get(views.get(step, ""), None)
        table.add_row(step, f"{secs:.2f}", "" if rows is None else f"{rows:,}")
    print_table(console, table)
    console.print(
        "views: "
        + ", ".join(f"{v} {n:,} rows" for v, n in summary.rows.items())
        + f"; entities: {summary.entities['users']:,} users, {summary.entities['items']:,} items; "
        f"applied {summary.applied}; total {time.perf_counter() - t0:.1f} s"
    )
    if summary.forgotten_events:
        console.print(f"left out {summary.forgotten_events:,} events of forgotten users (fulcrum forget)")
