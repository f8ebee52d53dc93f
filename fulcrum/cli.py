"""The `fulcrum` command line: one entry point, one sub-command per job.

Each command lives in the module that owns it and imports its heavy dependencies inside the
command function, so `fulcrum serve` never loads torch and `fulcrum --help` stays fast.
Register a command here with one line.
"""

from __future__ import annotations

import importlib
import logging
import os

import typer

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Fulcrum: e-commerce recommendation and search."
)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    default = getattr(logging, os.environ.get("FULCRUM_LOG_LEVEL", "INFO").upper(), logging.INFO)
    level = logging.DEBUG if verbose else default
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


# ---- command registry: (module, attribute, group, name) --------------------------------------
# A module's top level stays light; heavy imports live inside the command functions.
_COMMANDS: tuple[tuple[str, str, str, str], ...] = (
    ("offline.commands.data", "data_app", "", "data"),
    ("offline.commands.evaluate", "evaluate", "", "evaluate"),
    ("offline.commands.train", "train", "", "train"),
    ("offline.commands.export", "export", "", "export"),
    ("offline.commands.ablate", "ablate", "", "ablate"),
    ("offline.commands.tune", "tune", "", "tune"),
    ("offline.commands.augment", "augment_ablation", "", "ablate-augmentation"),
    ("offline.commands.features", "features_app", "", "features"),
    ("offline.commands.retrain", "retrain", "", "retrain"),
    ("online.server.command", "serve", "", "serve"),
    ("online.ingest.commands", "ingest", "", "ingest"),
    ("online.ingest.commands", "replay", "", "replay"),
    ("fulcrum.demo.command", "demo", "", "demo"),
    ("fulcrum.bench", "bench_app", "", "bench"),
    ("benchmarks.bench_serve", "bench_serve", "bench", "serve"),
    ("online.ingest.bench", "bench_ingest", "bench", "ingest"),
    ("benchmarks.bench_features", "bench_features", "bench", "features"),
    ("offline.commands.benchmark_quality", "bench_quality", "bench", "quality"),
)


def _register() -> None:
    groups: dict[str, typer.Typer] = {"": app}
    for module, attr, group, name in _COMMANDS:
        target = importlib.import_module(module).__dict__[attr]
        if isinstance(target, typer.Typer):
            groups[group].add_typer(target, name=name)
            groups[name] = target
        else:
            groups[group].command(name)(target)


_register()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
