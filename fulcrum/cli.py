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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
