"""`fulcrum bench quality`: the whole offline quality comparison on any prepared folder.

Model rows (with ``--bundle``), every baseline tuned on the validation slice, NDCG@10, Recall@10,
coverage@10, tail share@10, cold-user Recall@10, paired bootstrap 95 % intervals for the
ratios, fit / score timings; one Markdown table and one JSON file (offline/eval/quality.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_DATA = Path("artifacts") / "data"
DEFAULT_OUT = Path("artifacts") / "bench" / "quality"
JSON_FILE = "quality.json"
MARKDOWN_FILE = "quality.md"


def bench_quality(
    data: Annotated[Path, typer.Option(help="Prepared data folder (fulcrum data prepare); time or "
                                            "leave-last-out split.")] = DEFAULT_DATA,
    bundle: Annotated[Path | None, typer.Option(
        help="A trained bundle: adds its serving-default and towers-alone rows.")] = None,
    control_bundle: Annotated[list[Path] | None, typer.Option(
        help="A control bundle (repeatable; needs --bundle): adds its serving-default and "
             "towers-alone rows and the paired ratio of --bundle's row over the control's row of the "
             "same kind, e.g. the same training with one setting changed.")] = None,
    baseline: Annotated[list[str] | None, typer.Option(
        "--baseline", "-b", help="Baselines to run; repeatable (default: the full comparison).")] = None,
    out: Annotated[Path, typer.Option(help=f"Folder for {JSON_FILE} and {MARKDOWN_FILE}.")] = DEFAULT_OUT,
    tune: Annotated[bool, typer.Option(
        help="Tune the baselines on the validation slice (--no-tune: reference settings).")] = True,
    validation: Annotated[bool, typer.Option(
        help="Score on the validation slice instead of the test.")] = False,
    repeat_allowed: Annotated[bool, typer.Option(
        help="Repeat-allowed variant (all test items are targets, nothing excluded).")] = False,
    threads: Annotated[int, typer.Option(help="Threads for implicit and torch.", min=1)] = 2,
    sasrec_seconds: Annotated[float, typer.Option(
        help="SASRec training budget per fit in CPU seconds (validation run and refit each).",
        min=1.0)] = 150.0,
    sasrec_epochs: Annotated[int, typer.Option(
        help="SASRec epochs with --no-tune.", min=1)] = 30,
    embedding_cache: Annotated[Path | None, typer.Option(
        help="Folder caching item text embeddings by catalogue hash (default ~/.cache/fulcrum).")] = None,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples.", min=100)] = 2000,
    protocol: Annotated[str, typer.Option(
        help="What a user's history, the candidate pool and popularity are: purchases (train "
             "purchases) or interactions (every positive train event: views, clicks, add-to-carts, "
             "purchases; the protocol with signal on a multi-behaviour shop, best with "
             "--repeat-allowed). Targets are always the test purchases.")] = "purchases",
    serving_config: Annotated[Path | None, typer.Option(
        help="A serve config (e.g. `fulcrum choose-serving`'s serving.yaml, chosen on validation) "
             "whose ranking_mode, blend_weight, cancel_risk_weight, tail_boost and diversity the "
             "serving row uses instead of the built-in defaults.")] = None,
    signal: Annotated[str, typer.Option(
        help="What the baselines learn from: interactions (views, clicks, carts, purchases) or "
             "purchases.")] = "interactions",
) -> None:
    """Compare the model with strong baselines on one prepared folder (Markdown table + JSON)."""
    from rich.console import Console
    from rich.markup import escape

    from offline.baselines.interactions import SIGNALS
    from offline.baselines.registry import COMPARISON, Context, check_names
    from offline.baselines.tuning import TuningError
    from offline.data.errors import DataError
    from offline.eval.quality import run_quality
    from offline.eval.quality_markdown import quality_markdown

    console, err = Console(), Console(stderr=True)
    try:
        names = check_names(baseline or list(COMPARISON))
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--baseline") from e
    from offline.eval.protocol import HISTORIES

    if protocol not in HISTORIES:
        raise typer.BadParameter(f"{protocol!r} is not one of {HISTORIES}", param_hint="--protocol")
    if signal not in SIGNALS:
        raise typer.BadParameter(f"{signal!r} is not one of {SIGNALS}", param_hint="--signal")
    if serving_config is not None:
        if bundle is None:
            raise typer.BadParameter("needs --bundle (it orders the bundle's serving row)",
                                     param_hint="--serving-config")
        from offline.eval.bundle_rows import serving_ordering

        try:
            serving_ordering(serving_config)
        except ValueError as e:
            raise typer.BadParameter(str(e), param_hint="--serving-config") from e
    if bundle is not None and not (bundle / "manifest.json").is_file():
        raise typer.BadParameter(f"{bundle}: no manifest.json (not a bundle folder)", param_hint="--bundle")
    controls = list(control_bundle or [])
    if controls and bundle is None:
        raise typer.BadParameter("needs --bundle (its rows are put over the control's)",
                                 param_hint="--control-bundle")
    taken: set[str] = set()
    for control in controls:
        from offline.eval.bundle_rows import control_label

        try:
            taken.add(control_label(json.loads((control / "manifest.json").read_text()), taken))
        except (OSError, ValueError) as e:  # no manifest, unreadable JSON, a version given twice
            raise typer.BadParameter(f"{control}: {e}", param_hint="--control-bundle") from e
    context = Context(threads=threads, embedding_cache=embedding_cache, sasrec_seconds=sasrec_seconds,
                      sasrec_epochs=sasrec_epochs)
    refused: tuple[type[BaseException], ...] = (DataError, TuningError)
    if bundle is not None:
        from fulcrum.core.errors import BundleInvalid
        from offline.report.bundle_guard import InSampleError

        refused = (*refused, InSampleError, BundleInvalid)
    try:
        with console.status("quality benchmark") as status:
            payload = run_quality(data, bundle, names, tune=tune, validation=validation,
                                  repeat_allowed=repeat_allowed, context=context, resamples=resamples,
                                  signal=signal, history=protocol, serving_config=serving_config,
                                  controls=controls, status=lambda s: status.update(s))
    except refused as e:
        err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    text = quality_markdown(payload)
    out.mkdir(parents=True, exist_ok=True)
    (out / JSON_FILE).write_text(json.dumps(payload, indent=2, default=float) + "\n")
    (out / MARKDOWN_FILE).write_text(text)
    console.print(text, markup=False, highlight=False)
    console.print(f"wrote {out / JSON_FILE} and {out / MARKDOWN_FILE}")
