"""`fulcrum demo [--kafka]`: prepare, train, export, evaluate, load Feast, serve, replay, show.

    fulcrum demo                 # events replayed through the server's IngestEvents (gRPC)
    fulcrum demo --kafka         # through a local Kafka broker: fulcrum replay -> fulcrum ingest

Offline steps whose outputs are current are skipped (``--redo STEP`` or ``--redo all`` forces
them). The server runs as a `fulcrum serve` sub-process on a free loopback port and is stopped
at the end, on error and on Ctrl-C, with everything else the demo started. Sub-process logs go
to ``<artifacts>/demo/logs/``. Exit code 0 on success, 1 when a step failed, 130 on Ctrl-C.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Annotated

import typer

from fulcrum.demo.pipeline import REPO_ROOT, Layout, StepFailed, StepResult, Timeline

KAFKA_SH = REPO_ROOT / "deploy" / "kafka" / "kafka.sh"


def demo(
    kafka: Annotated[
        bool, typer.Option("--kafka", help="Replay through a local Kafka broker and `fulcrum ingest`.")
    ] = False,
    artifacts: Annotated[Path, typer.Option(help="Artifacts root.")] = Path("artifacts"),
    replay_limit: Annotated[
        int, typer.Option(help="Events of the test period to replay, from its start (0 = the whole period).")
    ] = 0,
    customers: Annotated[int, typer.Option(min=1, max=10, help="Customers shown before/after.")] = 3,
    redo: Annotated[
        list[str] | None,
        typer.Option(
            help="Re-run this offline step even if current (prepare, train, export, evaluate, history, "
            "features, or all); repeatable."
        ),
    ] = None,
    serve_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the server to be SERVING.")
    ] = 240.0,
) -> None:
    """Run the whole system end to end on the embedded defaults and show what it does."""
    from rich.console import Console

    from fulcrum.demo.freshness import Stamps
    from fulcrum.demo.pipeline import STEP_FACTORIES, STEP_NAMES, run_step

    console = Console()
    lay = Layout(root=artifacts)
    lay.logs.mkdir(parents=True, exist_ok=True)
    stamps = Stamps(lay.stamps)
    timeline = Timeline()
    started = time.perf_counter()
    names = set(STEP_NAMES)
    bad = sorted(set(redo or ()) - names - {"all"})
    if bad:
        raise typer.BadParameter(
            f"unknown step(s) {bad}; choose from {sorted(names)} or all", param_hint="--redo"
        )
    forced = names if "all" in (redo or ()) else set(redo or ())
    door = "Kafka (fulcrum replay -> fulcrum ingest)" if kafka else "gRPC IngestEvents"
    console.rule(f"[bold]Fulcrum demo[/bold]: offline pipeline, then serving with events through {door}")
    total = len(STEP_FACTORIES) + 2
    try:
        for i, factory in enumerate(STEP_FACTORIES, start=1):
            step = factory(lay)  # built now: it may depend on what the previous steps wrote
            timeline.add(run_step(step, stamps, console, i, total, force=step.name in forced))
        _online(console, lay, stamps, timeline, kafka, replay_limit, customers, serve_timeout, total)
    except StepFailed as e:
        timeline.add(StepResult(e.step.name, e.step.title, "failed", e.seconds, str(e)))
        console.print(f"[red]error:[/red] {e}")
        _summary(console, timeline, started)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        console.print("\n[yellow]interrupted: everything the demo started has been stopped[/yellow]")
        _summary(console, timeline, started)
        raise typer.Exit(130) from None
    except RuntimeError as e:
        console.print(f"[red]error:[/red] {e}")
        _summary(console, timeline, started)
        raise typer.Exit(1) from None
    except Exception as e:
        if not type(e).__module__.startswith("grpc"):
            raise
        detail = f"{e.code().name}: {e.details()}" if hasattr(e, "code") else str(e)
        console.print(
            f"[red]error:[/red] a gRPC call to the demo server failed ({detail}); "
            f"server log: {Layout(root=artifacts).logs / 'serve.log'}"
        )
        _summary(console, timeline, started)
        raise typer.Exit(1) from None
    _summary(console, timeline, started)


def _online(
    console,
    lay: Layout,
    stamps,
    timeline: Timeline,
    kafka: bool,
    replay_limit: int,
    customers: int,
    serve_timeout: float,
    total: int,
) -> None:
    import grpc

    from fulcrum.demo import showcase as show
    from fulcrum.demo.processes import Processes, child_env, free_port, wait_serving
    from fulcrum.demo.replay import purchases_by_user, replay_slice
    from fulcrum.v1 import recommender_pb2_grpc

    index = total - 1
    if not (lay.bundle / "manifest.json").is_file():
        note = f"no bundle at {lay.bundle} (train/export not available or failed)"
        console.print(
            f"[bold cyan][{index}/{total}] serve and replay[/bold cyan]\n"
            f"  [yellow]not available:[/yellow] {note}"
        )
        timeline.add(StepResult("serve", "serve and replay", "not available", note=note))
        return
    with Processes() as procs:
        # ---- serve ----------------------------------------------------------------------------
        console.print(f"[bold cyan][{index}/{total}] start the gRPC server[/bold cyan]")
        t = time.perf_counter()
        port = free_port()
        address = f"127.0.0.1:{port}"
        # plaintext, no credentials: the demo listens on loopback only (docs/security.md)
        env = {
            "FULCRUM_HOST": "127.0.0.1",
            "FULCRUM_METRICS_PORT": "0",
            "FULCRUM_SECURITY_ALLOW_PLAINTEXT": "true",
            "FULCRUM_SECURITY_ALLOW_UNAUTHENTICATED": "true",
        }
        has_store = (lay.feature_repo / "data" / "registry.db").is_file()
        if has_store:
            env["FULCRUM_FEATURE_REPO"] = str(lay.feature_repo.resolve())
        else:
            console.print(
                "  [yellow]not available: Feast repo (features step); the server uses in-memory "
                "features, so every customer starts cold[/yellow]"
            )
        bundle = lay.bundle.resolve()
        serve_log = lay.logs / "serve.log"
        from fulcrum.demo.pipeline import fulcrum_argv

        proc = procs.start(
            "fulcrum serve",
            fulcrum_argv("serve", "--bundle", str(bundle), "--port", str(port)),
            serve_log,
            env=child_env(**env),
        )
        waited = wait_serving(address, proc, serve_timeout, serve_log)
        console.print(f"  SERVING on {address} after {waited:.1f} s (log: {serve_log})")
        timeline.add(StepResult("serve", "start the gRPC server", "ran", time.perf_counter() - t))

        channel = grpc.insecure_channel(address)
        procs.on_exit("gRPC channel", channel.close)
        stub = recommender_pb2_grpc.RecommenderStub(channel)
        show.show_model_info(console, stub)
        text = show.item_texts(bundle)

        # ---- replay ---------------------------------------------------------------------------
        console.print(f"[bold cyan][{total}/{total}] replay the test period and show the results[/bold cyan]")
        t = time.perf_counter()
        cutoff = _cutoff(lay)
        frame = replay_slice(lay.data, cutoff, replay_limit or None)
        if frame.empty:
            raise RuntimeError(f"nothing to replay: no event at or after {cutoff} in {lay.data}")
        span = f"{frame['timestamp'].iloc[0]} .. {frame['timestamp'].iloc[-1]}"
        whole = (
            "the whole test period"
            if not replay_limit
            else f"the first {len(frame):,} events of the test period"
        )
        console.print(f"  replaying {whole} ({span})")
        bought = purchases_by_user(frame)
        known = _train_users(lay)
        pool = sorted((u for u in bought if u in known), key=lambda u: (-len(bought[u]), u))[:150]
        with console.status(
            f"BEFORE: recommendations for {len(pool)} customers who buy in the replayed period"
        ):
            before = show.recommend_many(stub, pool)
        chosen = show.choose_customers(before, bought, customers)
        stamps.forget("features")  # the online store is about to move past the split
        if kafka:
            stats_line = _via_kafka(console, procs, lay, bundle, replay_limit, cutoff, has_store)
        else:
            stats_line = _via_grpc(console, stub, frame)
        console.print(f"  {stats_line}")
        after = show.recommend_many(stub, chosen)
        timeline.add(
            StepResult(
                "replay",
                f"replay {len(frame):,} events ({'Kafka' if kafka else 'IngestEvents'})",
                "ran",
                time.perf_counter() - t,
                stats_line,
            )
        )

        # ---- show -----------------------------------------------------------------------------
        console.rule("recommendations before and after the customers' new purchases")
        again = show.show_before_after(
            console,
            chosen,
            before,
            after,
            bought,
            text,
            door="Kafka + fulcrum ingest" if kafka else "IngestEvents",
        )
        n_bought = sum(len(bought.get(u, ())) for u in chosen)
        colour = "green" if again == 0 else "red"
        console.print(
            f"[{colour}]anti-recommendation: {again} of the {n_bought} items these customers just "
            f"bought are recommended again[/{colour}]"
        )
        console.rule("Search")
        show.show_search(console, stub, text)
        console.rule("cold start")
        show.show_cold_start(console, stub, text)
        console.rule("evaluation")
        show.show_evaluation(console, lay.evaluation / "results.json", bundle)
        files = show.report_files(lay.evaluation, bundle)
        if files:
            console.print("report and plots:")
            for f in files:
                console.print(f"  {f}", highlight=False)
        else:
            console.print(
                f"[yellow]not available: report.md / plots (looked in {lay.evaluation} and {bundle})[/yellow]"
            )
        console.print(f"logs: {lay.logs}/")
        console.print("stopping what the demo started ...")


def _via_grpc(console, stub, frame) -> str:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from fulcrum.demo.replay import ingest_grpc

    with Progress(
        TextColumn("  IngestEvents"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task("ingest", total=len(frame))
        stats = ingest_grpc(stub, frame, progress=lambda n: bar.advance(task, n))
    line = (
        f"IngestEvents: {stats.events:,} events in {stats.seconds:.1f} s ({stats.events_per_s:,.0f}/s): "
        f"{stats.accepted:,} accepted, {stats.rejected:,} rejected, {stats.duplicates:,} duplicates"
    )
    if stats.first_reasons:
        line += f"; first rejections: {list(stats.first_reasons)}"
    return line


def _via_kafka(
    console, procs, lay: Layout, bundle: Path, replay_limit: int, cutoff: str, has_store: bool
) -> str:
    from fulcrum.demo.pipeline import fulcrum_argv
    from fulcrum.demo.processes import free_port, log_tail

    if not KAFKA_SH.is_file():
        raise RuntimeError(f"not available: {KAFKA_SH}")
    kdir = (lay.demo / "kafka").resolve()
    if kdir.exists():
        shutil.rmtree(kdir)  # a fresh broker: no events left from an earlier run
    port, cport = free_port(), free_port()
    console.print(f"  starting Kafka (KRaft) on 127.0.0.1:{port}")
    rc = subprocess.call(
        [
            str(KAFKA_SH),
            "start",
            "--port",
            str(port),
            "--controller-port",
            str(cport),
            "--dir",
            str(kdir),
            "--timeout",
            "120",
        ]
    )
    if rc != 0:
        raise RuntimeError(
            f"kafka.sh start failed (exit {rc}); jars missing? run `make kafka-jars`. "
            f"Broker log: {kdir}/logs/server.log"
        )
    procs.on_exit("kafka broker", lambda: subprocess.call([str(KAFKA_SH), "stop", "--dir", str(kdir)]))
    bootstrap = f"127.0.0.1:{port}"
    replay = [
        "replay",
        "--data",
        str(lay.data),
        "--from",
        cutoff,
        "--bootstrap",
        bootstrap,
        "--topic",
        "events",
    ]
    if replay_limit:
        replay += ["--limit", str(replay_limit)]
    console.print(f"  $ fulcrum {' '.join(replay)}", highlight=False)
    t = time.perf_counter()
    if subprocess.call(fulcrum_argv(*replay)) != 0:
        raise RuntimeError("fulcrum replay failed")
    produced_s = time.perf_counter() - t
    ingest = [
        "ingest",
        "--bootstrap",
        bootstrap,
        "--topic",
        "events",
        "--offline-dir",
        str(lay.offline_store),
        "--bundle",
        str(bundle),
        "--idle-exit",
        "8",
    ]
    if has_store:
        ingest += ["--feature-repo", str(lay.feature_repo.resolve())]
    else:
        ingest += ["--memory"]
    console.print(f"  $ fulcrum {' '.join(ingest)}", highlight=False)
    log = lay.logs / "ingest.log"
    t = time.perf_counter()
    proc = procs.start("fulcrum ingest", fulcrum_argv(*ingest), log)
    with console.status("fulcrum ingest: consuming into Feast (exits after 8 s idle)"):
        try:
            proc.wait(timeout=1800)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"fulcrum ingest did not finish in 30 min; log: {log}") from None
    consumed_s = time.perf_counter() - t
    tail = [line for line in log_tail(log, 40).splitlines() if "ingest stopped" in line]
    if proc.returncode != 0 or not tail:
        raise RuntimeError(f"fulcrum ingest exited with {proc.returncode}:\n{log_tail(log)}")
    return (
        f"Kafka: produced in {produced_s:.1f} s; consumed in {consumed_s:.1f} s (incl. 8 s idle exit and "
        f"start-up): {tail[-1].split('ingest stopped: ', 1)[-1]}; events for retraining under "
        f"{lay.offline_store}/"
    )


def _cutoff(lay: Layout) -> str:
    import json

    split = json.loads((lay.data / "split.json").read_text())
    cut = split.get("cutoff")
    if not cut:
        raise RuntimeError(f"{lay.data / 'split.json'}: no time cutoff to replay from")
    return str(cut)


def _train_users(lay: Layout) -> set[str]:
    import pandas as pd

    from fulcrum.core import schema as S

    ev = pd.read_parquet(lay.data / S.EVENTS_FILE, columns=[S.USER_ID, S.SPLIT])
    return set(ev.loc[ev[S.SPLIT].astype(str) == "train", S.USER_ID].dropna().astype(str))


def _summary(console, timeline: Timeline, started: float) -> None:
    from rich.table import Table

    from fulcrum.core.tables import print_table

    total = time.perf_counter() - started
    table = Table(title=f"fulcrum demo: {total / 60:.1f} min wall time", title_justify="left")
    table.add_column("step")
    table.add_column("status")
    table.add_column("seconds", justify="right")
    table.add_column("share", justify="right")
    for r in timeline.results:
        table.add_row(
            r.name,
            r.status + (f" ({r.note[:70]})" if r.status == "not available" else ""),
            f"{r.seconds:,.1f}" if r.seconds else "",
            f"{r.seconds / total:.0%}" if r.seconds else "",
        )
    print_table(console, table)
