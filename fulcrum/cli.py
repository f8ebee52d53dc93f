"""The `fulcrum` command line: one entry point, one sub-command per job.

Each command lives in the module that owns it; the registry below names it, and its module is
imported only when that command runs (or `--help` lists it). `fulcrum serve` therefore imports
online/ alone, never offline/ or benchmarks/, and the serving image ships without them
(tests/app/test_cli_lazy.py checks this in a fresh interpreter). A command whose module is not
installed stays listed and fails with one line naming what is missing.
Register a command here with one line.
"""

from __future__ import annotations

import importlib
import logging

import typer
from typer.core import TyperGroup

from fulcrum.core import environment


def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    default = getattr(logging, (environment.get("FULCRUM_LOG_LEVEL") or "INFO").upper(), logging.INFO)
    level = logging.DEBUG if verbose else default
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


# ---- command registry: (module, attribute, group, name) --------------------------------------
# Imported on first use (see the module docstring); `group` names the parent ("" = top level).
_COMMANDS: tuple[tuple[str, str, str, str], ...] = (
    ("offline.commands.data", "data_app", "", "data"),
    ("offline.commands.evaluate", "evaluate", "", "evaluate"),
    ("offline.commands.evaluate_search", "evaluate_search", "", "evaluate-search"),
    ("offline.commands.learn_search_log", "learn_search_log", "", "learn-search-log"),
    ("offline.commands.train", "train", "", "train"),
    ("offline.commands.export", "export", "", "export"),
    ("offline.commands.ablate", "ablate", "", "ablate"),
    ("offline.commands.choose_serving", "choose_serving", "", "choose-serving"),
    ("offline.commands.choose_serving", "validation_view", "data", "validation-view"),
    ("offline.commands.tune", "tune", "", "tune"),
    ("offline.commands.augment", "augment_ablation", "", "ablate-augmentation"),
    ("offline.commands.features", "features_app", "", "features"),
    ("offline.commands.retrain", "retrain", "", "retrain"),
    ("online.server.command", "serve", "", "serve"),
    ("fulcrum.security.command", "security_app", "", "security"),
    ("online.privacy.command", "forget", "", "forget"),
    ("online.ingest.commands", "ingest", "", "ingest"),
    ("online.ingest.commands", "replay", "", "replay"),
    ("fulcrum.demo.command", "demo", "", "demo"),
    ("fulcrum.bench", "bench_app", "", "bench"),
    ("benchmarks.bench_serve", "bench_serve", "bench", "serve"),
    ("online.ingest.bench", "bench_ingest", "bench", "ingest"),
    ("benchmarks.bench_features", "bench_features", "bench", "features"),
    ("offline.commands.benchmark_quality", "bench_quality", "bench", "quality"),
)


class _Pending:
    """A registered command whose module is not imported yet."""

    __slots__ = ("module", "attr", "path")

    def __init__(self, module: str, attr: str, path: str) -> None:
        self.module, self.attr, self.path = module, attr, path


def _unavailable(name: str, module: str, error: ImportError):
    message = (
        f"fulcrum {name}: not available in this installation ({module}: {error}); it needs the "
        "full project (pip install 'fulcrum[serve,train]' from a checkout, or the training image)"
    )

    def fail(ctx: typer.Context) -> None:
        typer.echo(message, err=True)
        raise typer.Exit(2)

    single = typer.Typer(add_completion=False)
    settings = {"ignore_unknown_options": True, "allow_extra_args": True}
    single.command(name, help=f"(not installed here: {error})", context_settings=settings)(fail)
    return typer.main.get_command(single)


def _load(name: str, pending: _Pending):
    try:
        target = importlib.import_module(pending.module).__dict__[pending.attr]
    except ImportError as e:
        return _unavailable(name, pending.module, e)
    path = f"{pending.path} {name}".strip()
    if isinstance(target, typer.Typer):
        group = typer.main.get_group(target)
        group.name = name
        _add_pending(group, path)
        return group
    single = typer.Typer(add_completion=False)
    single.command(name)(target)
    return typer.main.get_command(single)


class _LazyCommands(dict):
    """A click group's commands: names known up front, each module imported on first lookup."""

    def __getitem__(self, name: str):
        value = super().__getitem__(name)
        if isinstance(value, _Pending):
            value = _load(name, value)
            super().__setitem__(name, value)
        return value

    def get(self, name, default=None):  # click's Group.get_command uses .get
        return self[name] if name in self else default

    def values(self):
        return [self[k] for k in self]

    def items(self):
        return [(k, self[k]) for k in self]


def _add_pending(group, path: str) -> None:
    commands = _LazyCommands(group.commands)
    for module, attr, parent, name in _COMMANDS:
        if parent == path and name not in commands:
            commands[name] = _Pending(module, attr, path)
    group.commands = commands


class _LazyGroup(TyperGroup):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _add_pending(self, "")


app = typer.Typer(
    cls=_LazyGroup,
    no_args_is_help=True,
    add_completion=False,
    help="Fulcrum: e-commerce recommendation and search.",
)
app.callback()(_root)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
