"""Shared option handling of the ranking commands (ablate, tune, evaluate --bundle)."""

from __future__ import annotations

from pathlib import Path

import typer


def ranking_cache_dir(data: Path) -> Path:
    """Cached ranking rows live beside the data folder, never inside it (its owner rewrites it)."""
    return Path(data).resolve().parent / "cache" / "ranking"


def load_ranker_config(path: Path | None):
    """A RankerConfig from a YAML file (top level, or its 'ranker' section); defaults when None."""
    from offline.ranking.config import ConfigError, RankerConfig
    from offline.ranking.train import DEFAULT_METHOD

    if path is None:
        return RankerConfig(method=DEFAULT_METHOD)
    import yaml

    if not Path(path).is_file():
        raise typer.BadParameter(f"{path}: file not found", param_hint="--config")
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as e:
        raise typer.BadParameter(f"{path}: not valid YAML ({e})", param_hint="--config") from e
    if not isinstance(raw, dict):
        raise typer.BadParameter(f"{path}: expected a mapping", param_hint="--config")
    section = raw.get("ranker", raw)
    try:
        return RankerConfig.from_dict({"method": DEFAULT_METHOD, **section})
    except (ConfigError, TypeError) as e:
        raise typer.BadParameter(f"{path}: {e}", param_hint="--config") from e
