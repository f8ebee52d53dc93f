"""`fulcrum tune --target retrieval`: the CLI side of offline/tune/retrieval_search.py."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import typer


def tune_retrieval(
    data: Path, trials: int, timeout: float, out: Path, config: Path | None, seed: int, progress: bool
) -> None:
    import yaml
    from rich.console import Console

    from offline.commands.trial_progress import trial_progress
    from offline.data.errors import DataError
    from offline.model.interactions import MissingDataError
    from offline.train_config import ConfigError, load_config
    from offline.tune.retrieval_search import run_retrieval_search

    console, err = Console(), Console(stderr=True)
    if out.parent and not out.parent.exists():
        raise typer.BadParameter(f"folder {out.parent} does not exist", param_hint="--out")
    t0 = time.perf_counter()
    try:
        base = load_config(config)
        with trial_progress(console, "tuning retrieval", "best validation NDCG@10", progress) as bar:
            task = bar.add_task("tune", total=trials, best=float("nan"))
            result = run_retrieval_search(
                data,
                base,
                n_trials=trials,
                timeout=timeout,
                seed=seed,
                on_trial=lambda n, v, best: bar.update(task, completed=n, best=best),
            )
    except (ConfigError, DataError, MissingDataError, ValueError) as e:
        err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    best = result.best_config.retrieval
    header = [
        "# fulcrum tune --target retrieval: the best training config found "
        "(use: fulcrum train --config THIS)",
        f"# objective: validation NDCG@10 of the serving score; best {result.best_value:.4f}, "
        f"base config {result.base_value:.4f}",
        f"# {result.n_trials} trials in {result.seconds:.0f} s on {data}, "
        f"{dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}",
    ]
    for t in result.trials:
        knobs = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.items()
                          if k not in ("number", "value", "seconds"))
        header.append(f"#   trial {t['number']}: {t['value']:.4f} in {t['seconds']:.0f} s ({knobs})")
    body = yaml.safe_dump(result.best_config.model_dump(mode="json"), sort_keys=False)
    out.write_text("\n".join(header) + "\n" + body)
    console.print(
        f"{result.n_trials} trials in {time.perf_counter() - t0:.0f} s; best: lr={best.lr:.2g} "
        f"temperature={best.temperature:.3g} negatives={best.num_negatives} id_dropout={best.id_dropout:.2f} "
        f"horizon={best.horizon_days:g} d epochs={best.epochs} -> validation NDCG@10 {result.best_value:.4f} "
        f"(base {result.base_value:.4f})"
    )
    console.print(f"wrote {out}")
