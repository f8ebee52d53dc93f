"""`fulcrum tune` (placeholder while the search is written)."""

from __future__ import annotations

import typer


def tune() -> None:
    """Optuna search over the ranking head's knobs (not ready yet)."""
    raise typer.Exit(2)
