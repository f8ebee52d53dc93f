"""`fulcrum retrain`: one-shot retraining, safe to run from cron.

    fulcrum retrain --data artifacts/data --out artifacts/bundles \\
        [--offline-dir feature_repo/data/ingested] [--serving-bundle DIR] [--server HOST:PORT ...]

1. merges the prepared events with the events ingestion appended under ``--offline-dir``
   (``<dir>/ingested/events/*.parquet``, written by `fulcrum ingest --offline-dir <dir>`);
2. trains the embedded default config (or ``--config``) and exports a candidate bundle into
   ``<out>/.candidates/``;
3. evaluates the candidate and the serving bundle (``--serving-bundle``, default what
   ``<out>/LATEST`` points to) on the judge's slice: the newest 14 days of the merged data,
   which the candidate never trained on (a candidate that did is refused, exit 2), and prints
   the comparison;
4. promotes the candidate only if ``--metric`` (warm users) is at least the serving bundle's
   (minus ``--tolerance``): moves it to ``<out>/<version>`` and repoints ``<out>/LATEST`` atomically;
5. calls ``ReloadModel`` on every address of every ``--server`` (a DNS name with several A
   records, e.g. a Kubernetes headless Service, reaches every replica).

Exit codes: 0 promoted (and every server reloaded); 3 refused (the serving bundle stays);
4 promoted but at least one server did not reload (it keeps its old bundle; retry the reload or
restart it: it reads ``LATEST`` at start-up); 2 bad arguments or missing data; 1 training/export failed.

Environment variables (used when the option is not given): ``FULCRUM_RETRAIN_DATA`` (--data),
``FULCRUM_BUNDLES`` (--out), ``FULCRUM_OFFLINE_DIR`` (--offline-dir), ``FULCRUM_RELOAD_SERVERS``
(--server, comma-separated), plus the training config's ``FULCRUM_MODEL_PATH`` and
``FULCRUM_TRAIN_THREADS``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fulcrum.core import environment

EXIT_PROMOTED, EXIT_REFUSED, EXIT_RELOAD_FAILED = 0, 3, 4
ROWS = (
    "users",
    "ndcg@10",
    "recall@10",
    "hit_rate@10",
    "ndcg@20",
    "recall@20",
    "coverage@10",
    "tail_share@10",
)


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=code)


def _comparison(outcome, console) -> None:
    from rich.table import Table

    from fulcrum.core.tables import print_table

    m = outcome.metrics
    names = [n for n in ("serving", "candidate") if n in m]
    judge = next(iter(m.values()), {}).get("judge", "")
    table = Table(title=f"validation slice, warm users (discovery), judged by {judge}", title_justify="left")
    table.add_column("metric")
    for n in names:
        table.add_column(f"{n}\n{m[n].get('bundle_version', '')}", justify="right")
    if len(names) == 2:
        table.add_column("candidate - serving", justify="right")
    for row in ROWS:
        vals = [m[n]["warm"].get(row) for n in names]
        cells = [("" if v is None else (f"{v:,.0f}" if row == "users" else f"{v:.4f}")) for v in vals]
        if len(names) == 2 and None not in vals and row != "users":
            d = vals[1] - vals[0]
            colour = "green" if d >= 0 else "red"
            cells.append(f"[{colour}]{d:+.4f}[/{colour}]")
        elif len(names) == 2:
            cells.append("")
        marker = " *" if row == outcome.decision.metric else ""
        table.add_row(row + marker, *cells)
    print_table(console, table)


def _servers(values: list[str] | None) -> list[str]:

    from fulcrum.client.reload import parse_target

    raw = values or [v for v in (environment.get("FULCRUM_RELOAD_SERVERS") or "").split(",") if v.strip()]
    out = []
    for v in raw:
        try:
            parse_target(v)
        except ValueError as e:
            raise typer.BadParameter(str(e), param_hint="--server") from e
        out.append(v.strip())
    return out


def retrain(
    data: Annotated[Path, typer.Option(envvar="FULCRUM_RETRAIN_DATA", help="Prepared data folder.")] = Path(
        "artifacts/data"
    ),
    out: Annotated[
        Path, typer.Option(envvar="FULCRUM_BUNDLES", help="Bundles root (<version>/ and LATEST).")
    ] = Path("artifacts/bundles"),
    serving_bundle: Annotated[
        Path | None, typer.Option(help="The bundle in service (default: what <out>/LATEST points to).")
    ] = None,
    offline_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="FULCRUM_OFFLINE_DIR",
            help="Ingestion's offline store (the --offline-dir of `fulcrum ingest`); default "
            "feature_repo/data/ingested when present.",
        ),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="Training YAML; omitted = embedded defaults.")] = None,
    work: Annotated[Path, typer.Option(help="Scratch folder for the merged data and the run.")] = Path(
        "artifacts/retrain"
    ),
    server: Annotated[
        list[str] | None,
        typer.Option("--server", help="HOST:PORT of a server to reload after promotion; repeatable."),
    ] = None,
    candidate: Annotated[
        Path | None,
        typer.Option(
            help="Judge this existing bundle instead of training one (on --data's test split, which "
            "it must not have trained on)."
        ),
    ] = None,
    metric: Annotated[str, typer.Option(help="Warm-user metric that decides.")] = "ndcg@10",
    tolerance: Annotated[float, typer.Option(min=0.0, help="Promote if >= serving - tolerance.")] = 0.0,
    judge_by: Annotated[
        str,
        typer.Option(
            "--judge", help="retrieval (user encoder + item embeddings) or served (then the ranking head)."
        ),
    ] = "retrieval",
    reload_version: Annotated[
        str | None,
        typer.Option(
            help="Version name to send in ReloadModel (default: the promoted one; servers resolve it "
            "under their bundles_root). Credentials: FULCRUM_CLIENT_* (docs/security.md)."
        ),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Progress bars.")] = True,
) -> None:
    """Retrain on the offline store incl. ingested events; promote only if at least as good."""
    import time

    from rich.console import Console

    from offline.pipeline.promotion import current
    from offline.pipeline.retrain import JUDGE_DAYS, judge, train_candidate
    from offline.train_config import ConfigError, load_config

    console = Console()
    started = time.perf_counter()
    if not data.is_dir():
        raise _fail(f"--data {data}: folder not found (run `fulcrum data prepare --out {data}` first)")
    if serving_bundle is not None and not (serving_bundle / "manifest.json").is_file():
        raise _fail(f"--serving-bundle {serving_bundle}: not a bundle (no manifest.json)")
    if candidate is not None and not (candidate / "manifest.json").is_file():
        raise _fail(f"--candidate {candidate}: not a bundle (no manifest.json)")
    if offline_dir is None and Path("feature_repo/data/ingested").is_dir():
        offline_dir = Path("feature_repo/data/ingested")
    if offline_dir is not None and not offline_dir.is_dir():
        raise _fail(f"--offline-dir {offline_dir}: folder not found")
    from offline.pipeline.bundle_eval import JUDGES

    if judge_by not in JUDGES:
        raise typer.BadParameter(f"{judge_by!r} is not one of {', '.join(JUDGES)}", param_hint="--judge")
    servers = _servers(server)
    serving = serving_bundle.resolve() if serving_bundle is not None else current(out)
    console.print(f"serving bundle: {serving or 'none (the first promotion needs no comparison)'}")

    timings: dict[str, float] = {}
    merge = None
    if candidate is None:
        try:
            cfg = load_config(config)
            cfg.resolved_model_path()
        except ConfigError as e:
            raise _fail(str(e)) from None
        from offline.data.errors import DataError
        from offline.export.errors import ExportError
        from offline.model.interactions import MissingDataError
        from offline.stage_error import StageError

        try:
            candidate, judged_on, merge = train_candidate(
                data, offline_dir, out, work, cfg, progress, timings
            )
        except (DataError, MissingDataError, ValueError) as e:
            raise _fail(str(e)) from None
        except ExportError as e:
            raise _fail(f"export refused the candidate: {e}", code=1) from None
        except StageError as e:
            raise _fail(str(e), code=1) from None
        console.print(
            f"trained on {merge.merged:,} events ({merge.prepared_train:,} prepared + {merge.ingested:,} "
            f"ingested from {merge.ingested_files} file(s), {merge.duplicates_dropped:,} duplicates "
            f"dropped, {merge.new_items} new items) up to {merge.last}, the newest {JUDGE_DAYS:g} days held "
            f"out to judge on; candidate {candidate}"
        )
    else:
        judged_on = data
    from offline.report.bundle_guard import InSampleError

    try:
        outcome = judge(candidate, serving, judged_on, out, metric, tolerance, timings=timings, by=judge_by)
    except InSampleError as e:
        raise _fail(str(e)) from None
    except ValueError as e:  # no time split / nothing to judge on
        raise _fail(f"cannot judge: {e}") from None
    outcome.merge = merge
    _comparison(outcome, console)
    d = outcome.decision
    if not d.promote:
        console.print(
            f"[red]REFUSED[/red]: {d.reason}; still serving {serving}; candidate kept at {candidate}"
        )
        console.print(_times(timings, started))
        raise typer.Exit(EXIT_REFUSED)
    console.print(f"[green]PROMOTED[/green]: {d.reason}; {out}/LATEST -> {outcome.published.name}")
    code = EXIT_PROMOTED
    if servers:
        from fulcrum.client.reload import reload_servers

        for r in reload_servers(servers, reload_version or outcome.published.name):
            if r.ok:
                console.print(f"  reloaded {r.address}: {r.previous} -> {r.version}")
            else:
                code = EXIT_RELOAD_FAILED
                console.print(f"  [red]reload failed on {r.address}: {r.error}[/red]")
    else:
        console.print("no --server given: servers pick the new bundle up at their next start or ReloadModel")
    console.print(_times(timings, started))
    raise typer.Exit(code)


def _times(timings: dict[str, float], started: float) -> str:
    import time

    parts = ", ".join(f"{k.removesuffix('_s')} {v:.1f} s" for k, v in timings.items())
    return f"retrain wall time {time.perf_counter() - started:.1f} s ({parts})"
