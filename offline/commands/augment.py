"""`fulcrum ablate-augmentation`: measure each augmentation on the validation slice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def augment_ablation(
    data: Annotated[Path, typer.Option(help="Prepared data folder (fulcrum data prepare).")] = Path(
        "artifacts/data"
    ),
    config: Annotated[Path | None, typer.Option(help="Training config YAML (default: embedded).")] = None,
    out: Annotated[Path, typer.Option(help="Folder for augmentation.json and augmentation.md.")] = Path(
        "artifacts/augmentation"
    ),
) -> None:
    """Validation-only training with each augmentation switched off (4 arms, never the test set)."""
    from rich.console import Console

    from offline.data.errors import DataError
    from offline.model.augment_ablation import ARMS, markdown, run_augment_ablation
    from offline.model.interactions import MissingDataError
    from offline.train_config import ConfigError, load_config

    console, err = Console(), Console(stderr=True)
    try:
        base = load_config(config)
        with console.status("arms") as status:
            rows = run_augment_ablation(
                data, base, on_arm=lambda name: status.update(f"arm: {name} (of {len(ARMS)})")
            )
    except (ConfigError, DataError, MissingDataError, ValueError) as e:
        err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    out.mkdir(parents=True, exist_ok=True)
    (out / "augmentation.json").write_text(json.dumps({"data": str(data), "arms": rows}, indent=2) + "\n")
    table = markdown(rows)
    (out / "augmentation.md").write_text(table)
    console.print(table)
    console.print(f"wrote {out / 'augmentation.json'} and {out / 'augmentation.md'}")
