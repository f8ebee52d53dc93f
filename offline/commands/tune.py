"""`fulcrum tune`: Optuna (TPE) on the validation slice (never the test set).

- ``--target ranker`` (default): the ranking head's knobs and imbalance method; writes YAML whose
  ``ranker`` section is what `fulcrum ablate --config`, the export's ranker config and
  `train_ranker` read.
- ``--target retrieval``: the two towers' main knobs (offline/tune/retrieval_search.py), each
  trial a real training run stopped after validation; writes a `fulcrum train --config` file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DEFAULT_DATA = Path("artifacts") / "data"
DEFAULT_OUT = Path("best.yaml")


def tune(
    data: Annotated[Path, typer.Option(help="Prepared data folder (fulcrum data prepare).")] = DEFAULT_DATA,
    trials: Annotated[int, typer.Option(help="Maximum number of trials.")] = 20,
    timeout: Annotated[float, typer.Option(
        help="Time budget in seconds (the study stops after the running trial).")] = 600.0,
    out: Annotated[Path, typer.Option(help="Where to write the best configuration (YAML).")] = DEFAULT_OUT,
    config: Annotated[Path | None, typer.Option(
        help="Base ranker config YAML (top level or a 'ranker' section).")] = None,
    method: Annotated[str | None, typer.Option(help="Fix the imbalance method (default: searched).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs per trial (default: the config's).")] = None,
    seed: Annotated[int, typer.Option(help="Sampler seed.")] = 0,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    target: Annotated[str, typer.Option(
        help="What to tune: 'ranker' (the ranking head) or 'retrieval' (the two towers; --config is "
        "then a training config and --out a `fulcrum train --config` file).")] = "ranker",
) -> None:
    """Search hyper-parameters on the validation slice (never the test set)."""
    import datetime as dt
    import time

    import yaml
    from rich.console import Console

    from offline.commands.ranker_options import load_ranker_config, ranking_cache_dir
    from offline.commands.trial_progress import trial_progress
    from offline.data.errors import DataError
    from offline.ranking.config import METHODS
    from offline.ranking.slices import load_or_build_slices
    from offline.tune.search import run_search

    console, err = Console(), Console(stderr=True)
    if trials < 1:
        raise typer.BadParameter("must be >= 1", param_hint="--trials")
    if timeout <= 0:
        raise typer.BadParameter("must be > 0 seconds", param_hint="--timeout")
    if target not in ("ranker", "retrieval"):
        raise typer.BadParameter(f"{target!r}: expected ranker or retrieval", param_hint="--target")
    if target == "retrieval":
        from offline.commands.tune_retrieval import tune_retrieval

        for name, value in (("--method", method), ("--epochs", epochs)):
            if value is not None:
                raise typer.BadParameter("applies to --target ranker only", param_hint=name)

        tune_retrieval(data, trials, timeout, out, config, seed, progress)
        return
    if method is not None and method not in METHODS:
        raise typer.BadParameter(f"{method!r}: expected one of {', '.join(METHODS)}", param_hint="--method")
    if out.parent and not out.parent.exists():
        raise typer.BadParameter(f"folder {out.parent} does not exist", param_hint="--out")
    base = load_ranker_config(config)
    if epochs is not None:
        if epochs < 1:
            raise typer.BadParameter("must be >= 1", param_hint="--epochs")
        base = base.replace(epochs=epochs)
    t0 = time.perf_counter()
    try:
        with console.status("building point-in-time ranking rows (cached after the first run)"):
            slices = load_or_build_slices(data, base, cache_dir=ranking_cache_dir(data))
    except DataError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    with trial_progress(console, "tuning", "best", progress) as bar:
        task = bar.add_task("tune", total=trials, best=float("nan"))
        result = run_search(
            slices.fit,
            slices.val,
            base,
            n_trials=trials,
            timeout=timeout,
            method=method,
            seed=seed,
            on_trial=lambda n, v, best: bar.update(task, completed=n, best=best),
        )
    doc = {
        "ranker": result.best_config.to_dict(),
        "tuning": {
            "objective": "validation PR-AUC (cancel) + validation PR-AUC (purchase)",
            "best_value": round(result.best_value, 6),
            "validation": {
                h: {k: round(float(v), 6) for k, v in m.items()} for h, m in result.best_metrics.items()
            },
            "trials": result.n_trials,
            "seconds": round(result.seconds, 1),
            "data": str(data),
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
    }
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    c, p = result.best_metrics["cancel"], result.best_metrics["purchase"]
    console.print(
        f"{result.n_trials} trials in {time.perf_counter() - t0:.0f} s; "
        f"best: method={result.best_config.method} lr={result.best_config.lr:.2g} "
        f"hidden={result.best_config.hidden} layers={result.best_config.layers} "
        f"-> validation PR-AUC cancel {c['pr_auc']:.4f}, purchase {p['pr_auc']:.4f}"
    )
    console.print(f"wrote {out}")
