"""Choosing the serving ordering on validation (offline/report/serving_choice.py), in two commands:

- ``fulcrum data validation-view --data DIR --out VAL``: the validation view of a prepared folder
  (train minus its last ``validation_days``; its test = those days), to train a validation bundle
  on (``fulcrum train --data VAL --bundle-out VB``);
- ``fulcrum choose-serving --data DIR --bundle VB/LATEST --out OUT``: sweeps the orderings on DIR's
  validation slice and writes ``serving.yaml`` (a ``fulcrum serve --config`` fragment),
  ``serving_choice.json`` and ``serving_choice.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

YAML_FILE = "serving.yaml"
JSON_FILE = "serving_choice.json"
MARKDOWN_FILE = "serving_choice.md"


def validation_view(
    data: Annotated[Path, typer.Option(help="Prepared data folder (fulcrum data prepare).")],
    out: Annotated[Path, typer.Option(help="Folder for the validation view (a prepared folder).")],
) -> None:
    """Write the validation view of a time-split folder: train a validation bundle on it."""
    from rich.console import Console
    from rich.markup import escape

    from offline.data.dataset import load_prepared
    from offline.data.errors import DataError
    from offline.data.prepare import write_prepared
    from offline.data.split import LEAVE_LAST_OUT
    from offline.eval.slices import validation_of

    err = Console(stderr=True)
    if Path(out).resolve() == Path(data).resolve():
        raise typer.BadParameter("must differ from --data", param_hint="--out")
    try:
        prepared = load_prepared(data)
    except DataError as e:
        err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    if prepared.split.kind == LEAVE_LAST_OUT:
        err.print("[red]error:[/red] a leave-last-out validation slice is each user's last train basket, "
                  "which no single bundle can be shown not to have seen: choose on a time split "
                  "(`fulcrum data prepare --split time`)", highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    val = validation_of(prepared)
    path = write_prepared(val, out)
    n_test = int((val.events["split"] == "test").sum())
    Console().print(f"wrote {path}: {len(val.events) - n_test:,} train events before "
                    f"{val.split.cutoff.isoformat()}, {n_test:,} validation events")


def choose_serving(
    data: Annotated[Path, typer.Option(help="The prepared folder whose validation slice decides.")],
    bundle: Annotated[Path, typer.Option(help="A validation bundle: trained on `fulcrum data "
                                              "validation-view` of --data.")],
    out: Annotated[Path, typer.Option(help=f"Folder for {YAML_FILE}, {JSON_FILE}, {MARKDOWN_FILE}.")],
    protocol: Annotated[str, typer.Option(
        help="History basis of the validation protocol: purchases or interactions (as in "
             "`fulcrum bench quality`).")] = "purchases",
    repeat_allowed: Annotated[bool, typer.Option(
        help="Repeat-allowed variant (all validation purchases are targets).")] = False,
) -> None:
    """Choose ranking_mode, tail_boost and diversity on the validation slice."""
    import json

    from rich.console import Console
    from rich.markup import escape

    from offline.data.errors import DataError
    from offline.eval.protocol import HISTORIES
    from offline.report.bundle_guard import InSampleError
    from offline.report.serving_choice import (
        NoSignal,
        choice_markdown,
        choose_on_validation,
        serve_config_yaml,
    )

    console, err = Console(), Console(stderr=True)
    if protocol not in HISTORIES:
        raise typer.BadParameter(f"{protocol!r} is not one of {HISTORIES}", param_hint="--protocol")
    if not (Path(bundle) / "manifest.json").is_file():
        raise typer.BadParameter(f"{bundle}: no manifest.json (not a bundle folder)", param_hint="--bundle")
    try:
        with console.status("choosing on validation") as status:
            result = choose_on_validation(bundle, data, status=lambda s: status.update(s),
                                          repeat_allowed=repeat_allowed, history=protocol)
    except (DataError, InSampleError, NoSignal) as e:
        err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    out.mkdir(parents=True, exist_ok=True)
    (out / JSON_FILE).write_text(json.dumps(result, indent=2, default=float) + "\n")
    (out / YAML_FILE).write_text(serve_config_yaml(result))
    md = choice_markdown(result)
    (out / MARKDOWN_FILE).write_text(md)
    console.print(md, markup=False, highlight=False)
    console.print(f"wrote {out / YAML_FILE} (serve with --config), {out / JSON_FILE}, {out / MARKDOWN_FILE}")
