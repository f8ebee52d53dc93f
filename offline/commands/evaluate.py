"""`fulcrum evaluate`: score recommenders on the prepared split, print a table, write JSON.

Each recommender contributes one result entry (see offline/eval/report.py); baselines come from
`run_baselines`. A trained bundle plugs in the same way: build its recommend function, call
`offline.eval.harness.evaluate_recommender(fn, prepared, protocol=protocol)` and add the entry to
``results`` in `_collect` below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DEFAULT_DATA = Path("artifacts") / "data"
DEFAULT_OUT = Path("artifacts") / "evaluation"
DEFAULT_ABLATION = Path("artifacts") / "ranking" / "ablation.json"  # `fulcrum ablate` output


def _collect(prepared, protocol, baselines: list[str], k_list: tuple[int, ...], threads: int,
             console, tune: bool = False) -> dict[str, dict]:
    """Baselines learn from what the protocol calls history (purchases, or every interaction)."""
    from offline.baselines.registry import run_baselines

    results: dict[str, dict] = {}
    if baselines:
        with console.status("evaluating") as status:
            results.update(run_baselines(
                prepared, baselines, k_list=k_list, threads=threads, protocol=protocol, tune=tune,
                signal=protocol.history,
                on_start=lambda name: status.update(f"fitting and evaluating {name}"),
            ))
    # (a --bundle evaluation adds its entry here)
    return results


def evaluate(
    data: Annotated[Path, typer.Option(help="Prepared data folder (fulcrum data prepare).")] = DEFAULT_DATA,
    baseline: Annotated[list[str] | None, typer.Option(
        "--baseline", "-b", help="popularity, itemknn, als, bpr, zeroshot-text, sasrec, als+trend, "
                                 "itemknn+trend, rp3beta, rp3beta+trend or repurchase; repeatable.")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Folder for results.json (default artifacts/evaluation); with --bundle, for the report "
             "(default DIR/report).")] = None,
    k: Annotated[list[int] | None, typer.Option(
        "--k", help="Cut-offs K; repeatable (default 10 and 20).")] = None,
    threads: Annotated[int, typer.Option(help="Threads for ALS (BLAS is held to 1 while fitting).")] = 2,
    repeat_allowed: Annotated[bool, typer.Option(
        help="Use the repeat-allowed variant (all test items are targets, nothing excluded).")] = False,
    protocol: Annotated[str, typer.Option(
        help="History basis: purchases, or interactions (views, clicks, add-to-carts and purchases "
             "make up histories, the candidate pool and popularity, and the baselines learn from "
             "them; targets stay the test purchases).")] = "purchases",
    validation: Annotated[bool, typer.Option(
        help="Evaluate on the validation slice (carved from train) instead of the test.")] = False,
    tune: Annotated[bool, typer.Option(
        help="Tune the baselines on the validation slice first (default: reference settings).")] = False,
    bundle: Annotated[Path | None, typer.Option(
        help="A bundle folder: evaluate it against the baselines (default: all three) and write "
             "report.md, metrics.json and plots to DIR/report.")] = None,
    ablation: Annotated[Path, typer.Option(
        help="With --bundle: the `fulcrum ablate` results to include.")] = DEFAULT_ABLATION,
) -> None:
    """Evaluate baselines on the prepared split (warm discovery users; cold users apart)."""
    from rich.console import Console
    from rich.markup import escape

    from offline.baselines.registry import check_names
    from offline.baselines.tuning import TuningError
    from offline.baselines.zeroshot import NoItemText
    from offline.data.dataset import load_prepared
    from offline.data.errors import DataError
    from offline.eval.protocol import HISTORIES, protocol_for
    from offline.eval.report import results_table, write_results

    console = Console()
    err = Console(stderr=True)
    if bundle is not None:  # the bundle report lives in offline/report/ (ranking side)
        from offline.commands.bundle_report import bundle_report

        # the bundle report is fixed at K = 10 and 20 on the test split's discovery protocol; say
        # so rather than ignore the options (`fulcrum bench quality` has --validation and
        # --repeat-allowed with a bundle)
        for given, hint in ((k is not None, "--k"), (validation, "--validation"),
                            (repeat_allowed, "--repeat-allowed"), (tune, "--tune"),
                            (protocol != "purchases", "--protocol")):
            if given:
                raise typer.BadParameter(
                    "not supported with --bundle (its report uses K = 10 and 20 on the test split); "
                    "use `fulcrum bench quality --bundle DIR` for --validation, --repeat-allowed, "
                    "--protocol and tuned baselines", param_hint=hint)
        return bundle_report(bundle, data, baseline or [], ablation, threads, console, err, out=out)
    try:
        names = check_names(baseline or [])
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--baseline") from e
    if not names:
        raise typer.BadParameter("name at least one recommender, e.g. --baseline popularity",
                                 param_hint="--baseline")
    if protocol not in HISTORIES:
        raise typer.BadParameter(f"{protocol!r} is not one of {HISTORIES}", param_hint="--protocol")
    k = k or [10, 20]
    if any(v < 1 for v in k):
        raise typer.BadParameter(f"{k} must be positive integers", param_hint="--k")
    k_list = tuple(sorted(set(k)))
    try:
        prepared = load_prepared(data)
    except DataError as e:
        err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    if validation:
        from offline.eval.slices import validation_of

        prepared = validation_of(prepared)
    history = protocol
    protocol = protocol_for(prepared, repeat_allowed=repeat_allowed, history=history)
    try:
        results = _collect(prepared, protocol, names, k_list, threads, console, tune)
    except (TuningError, NoItemText) as e:
        err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None

    variant = "repeat-allowed" if repeat_allowed else "discovery"
    title = (f"{prepared.split.protocol} ({variant}, history: {history}): "
             f"{len(protocol.warm_users):,} warm users, {len(protocol.cold_users):,} cold users")
    from fulcrum.core.tables import print_table

    print_table(console, results_table(results, title))
    path = write_results(out or DEFAULT_OUT, results, prepared, data)
    console.print(f"wrote {path}")
