"""The `fulcrum bench ...` group: each benchmark registers one sub-command here (see fulcrum/cli.py)."""

from __future__ import annotations

import typer

bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks: print a table with ratios and write JSON.")
