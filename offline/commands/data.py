"""`fulcrum data prepare`: raw shop data -> artifacts/data (events.parquet, items.parquet, split.json)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

data_app = typer.Typer(no_args_is_help=True, help="Prepare shop data into the generic prepared folder.")

_REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("online-retail", "generic", "taobao")
DEFAULT_OUT = Path("artifacts") / "data"


def _default_raw() -> Path:
    local = Path("data") / "online-retail.csv.gz"
    return local if local.is_file() else _REPO_ROOT / local


def _fmt(n) -> str:
    return f"{n:,}" if isinstance(n, int) else str(n)


def _summary(prepared, seconds: float, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from fulcrum.core.tables import print_table

    console = Console()
    cleaning = prepared.split.cleaning
    counts = prepared.split.counts
    reference = prepared.split.reference

    table = Table(title=f"fulcrum data prepare ({cleaning['source']})", show_lines=False)
    table.add_column("step")
    table.add_column("rows", justify="right")
    table.add_row("raw rows read", _fmt(cleaning["raw_rows"]))
    for rule, n in cleaning["dropped"].items():
        table.add_row(f"  dropped: {rule}", _fmt(n))
    table.add_row("[dim]  facts (nothing dropped):[/dim]", "")
    for note, n in cleaning["notes"].items():
        table.add_row(f"  [dim]{note}[/dim]", f"[dim]{_fmt(n)}[/dim]")
    for etype, n in cleaning["events_by_type"].items():
        table.add_row(f"events written: {etype}", _fmt(n))
    table.add_row("items written", _fmt(cleaning["items_written"]))
    print_table(console, table)

    cut = prepared.split.cutoff
    when = f", cutoff {cut:%Y-%m-%d %H:%M} UTC" if cut is not None else ""
    split = Table(title=f"split {prepared.split.protocol} ({prepared.split.kind}{when})")
    split.add_column("count")
    split.add_column("value", justify="right")
    split.add_column("reference", justify="right")
    split.add_column("", justify="center")
    merged = {"raw_rows": cleaning["raw_rows"], **counts}
    for key, value in merged.items():
        ref = reference.get(key)
        mark = "" if ref is None else ("[green]ok[/green]" if ref == value else "[red]DIFFERS[/red]")
        split.add_row(key, _fmt(value), "" if ref is None else _fmt(ref), mark)
    print_table(console, split)
    console.print(f"wrote {out}/ in {seconds:.1f} s")


@data_app.command("prepare")
def prepare(
    source: Annotated[str, typer.Option(
        help=f"Raw source adapter: {', '.join(SOURCES)} (generic is implied by --events).",
    )] = "online-retail",
    raw: Annotated[Path | None, typer.Option(
        help="Raw file of an online-retail (default: data/online-retail.csv.gz) or taobao source.")] = None,
    events: Annotated[Path | None, typer.Option(
        help="Generic events file (CSV, CSV.gz or parquet); see docs/data-format.md.")] = None,
    items: Annotated[Path | None, typer.Option(
        help="Generic items file (CSV, CSV.gz or parquet): item_id[, text][, price][, any "
             "columns the text is assembled from].")] = None,
    event_map: Annotated[list[str] | None, typer.Option(
        "--event-map", help="RAW=TYPE: read the raw event type RAW as TYPE (e.g. fav=CLICK); "
                            "repeatable; before the built-in aliases (docs/data-format.md).")] = None,
    validation_days: Annotated[int, typer.Option(
        min=1, help="Time split: the last days of train used as the validation slice.")] = 14,
    split: Annotated[str, typer.Option(help="time or leave-last-out.")] = "time",
    cutoff: Annotated[str | None, typer.Option(
        help="Time-split cut-off, ISO date/time in UTC (online-retail default: 2011-11-09).")] = None,
    drop_non_product: Annotated[bool, typer.Option(
        "--drop-non-product/--keep-non-product",
        help="Online Retail: remove POST, M, DOT, BANK CHARGES ... rows (OR-temporal keeps them).")] = False,
    out: Annotated[Path, typer.Option(help="Output folder.")] = DEFAULT_OUT,
    keep_unsold_items: Annotated[bool, typer.Option(
        "--keep-unsold-items",
        help="Generic source with --items: also write catalogue items no event mentions "
        "(never sold: searchable and offered as new items); default: counted and dropped.")] = False,
) -> None:
    """Read, clean and split raw data; write events.parquet, items.parquet and split.json."""
    import pandas as pd
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    from offline.data import generic, online_retail, taobao
    from offline.data.errors import DataError
    from offline.data.prepare import finalize, write_prepared
    from offline.data.split import SPLIT_KINDS, TIME

    err = Console(stderr=True)
    if events is not None:
        source = "generic"
    if source not in SOURCES:
        raise typer.BadParameter(f"{source!r} is not one of {SOURCES}", param_hint="--source")
    if split not in SPLIT_KINDS:
        raise typer.BadParameter(f"{split!r} is not one of {SPLIT_KINDS}", param_hint="--split")
    if source == "generic" and events is None:
        raise typer.BadParameter("the generic source needs --events FILE", param_hint="--events")
    if keep_unsold_items and (source != "generic" or items is None):
        raise typer.BadParameter("needs the generic source with --items FILE (the catalogue)",
                                 param_hint="--keep-unsold-items")
    if source == "taobao" and raw is None:
        raise typer.BadParameter("the taobao source needs --raw FILE", param_hint="--raw")
    from offline.data.event_names import parse_event_map

    try:
        names = parse_event_map(event_map)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--event-map") from e
    cut = None
    if cutoff is not None:
        try:
            cut = pd.Timestamp(cutoff)
            cut = cut.tz_localize("UTC") if cut.tzinfo is None else cut.tz_convert("UTC")
        except ValueError as e:
            raise typer.BadParameter(f"{cutoff!r} is not a date ({e})", param_hint="--cutoff") from e
    if split == TIME and cut is None:
        if source != "online-retail":
            raise typer.BadParameter("a time split needs --cutoff DATE", param_hint="--cutoff")
        cut = online_retail.CUTOFF

    started = time.perf_counter()
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(),
                      transient=True, console=err) as bar:
            task = bar.add_task("reading", total=None)

            def on_progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            def on_stage(msg: str) -> None:
                bar.update(task, description=msg)

            if source == "online-retail":
                path = raw or _default_raw()
                on_stage(f"reading {path.name}")
                ev, it, report = online_retail.load(path, drop_non_product=drop_non_product,
                                                   progress=on_progress, on_stage=on_stage)
                protocol = online_retail.PROTOCOL if split == TIME and cut == online_retail.CUTOFF \
                    and not drop_non_product else f"{online_retail.SOURCE}/{split}"
                exact = protocol == online_retail.PROTOCOL and online_retail.is_reference_file(path)
                reference = online_retail.REFERENCE if exact else {}
            elif source == "taobao":
                on_stage(f"reading {raw.name}")
                ev, it, report = taobao.load(raw, progress=on_progress, event_map=names)
                protocol, reference = f"taobao/{split}", {}
            else:
                on_stage(f"reading {events.name}")
                ev, it, report = generic.load(events, items, progress=on_progress, event_map=names,
                                              keep_unsold_items=keep_unsold_items)
                protocol, reference = f"generic/{split}", {}
            on_stage("splitting and counting")
            prepared = finalize(ev, it, report, split, protocol, cutoff=cut, reference=reference,
                                validation_days=validation_days)
            on_stage(f"writing {out}")
            write_prepared(prepared, out)
    except DataError as e:
        err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    _summary(prepared, time.perf_counter() - started, out)
