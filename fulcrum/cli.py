"""The `fulcrum` command line: one entry point, one sub-command per job.

Each command lives in the module that owns it and imports its heavy dependencies inside the
command function, so `fulcrum serve` never loads torch and `fulcrum --help` stays fast.
Register a command here with one line.
"""

from __future__ import annotations

import logging
import os

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Fulcrum: e-commerce recommendation and search.")


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    level = logging.DEBUG if verbose else getattr(logging, os.environ.get("FULCRUM_LOG_LEVEL", "INFO").upper(), logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


# ---- command registry (one line each; modules keep heavy imports inside their functions) ------
from online.server.command import serve; app.command("serve")(serve)  # noqa: E402, E702
from fulcrum.bench import bench_app; app.add_typer(bench_app, name="bench")  # noqa: E402, E702
from benchmarks.bench_serve import bench_serve; bench_app.command("serve")(bench_serve)  # noqa: E402, E702
from offline.commands.data import data_app; app.add_typer(data_app, name="data")  # noqa: E402, E702
from offline.commands.evaluate import evaluate; app.command("evaluate")(evaluate)  # noqa: E402, E702
from offline.commands.ablate import ablate; app.command("ablate")(ablate)  # noqa: E402, E702
from offline.commands.tune import tune; app.command("tune")(tune)  # noqa: E402, E702
from online.ingest.commands import ingest; app.command("ingest")(ingest)  # noqa: E402, E702
from online.ingest.commands import replay; app.command("replay")(replay)  # noqa: E402, E702
from online.ingest.bench import bench_ingest; bench_app.command("ingest")(bench_ingest)  # noqa: E402, E702
from offline.commands.train import train; app.command("train")(train)  # noqa: E402, E702
from offline.commands.export import export; app.command("export")(export)  # noqa: E402, E702
from offline.commands.features import features_app; app.add_typer(features_app, name="features")  # noqa: E402, E702
from fulcrum.demo.command import demo; app.command("demo")(demo)  # noqa: E402, E702
from offline.commands.retrain import retrain; app.command("retrain")(retrain)  # noqa: E402, E702
from benchmarks.bench_features import bench_features; bench_app.command("features")(bench_features)  # noqa: E402, E702


def main() -> None:
    app()


if __name__ == "__main__":
    main()
