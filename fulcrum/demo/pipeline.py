"""The demo's offline steps: prepare -> train -> export -> evaluate -> history -> features.

Each step is a small function returning a ``Step`` (a `fulcrum ...` command line, its inputs and
outputs), so adapting to a component's changing CLI touches one function. ``run_step`` skips a
step whose outputs are current (``freshness``) and otherwise runs it as a sub-process that
inherits the terminal (its own progress bars show). A step whose command is not registered in
this build is reported as "not available" instead of failing the demo.
"""

from __future__ import annotations

import inspect
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fulcrum.demo.freshness import Stamps, fingerprint, is_current

REPO_ROOT = Path(__file__).resolve().parents[2]
BASELINES = ("popularity", "itemknn", "als")


@dataclass(frozen=True)
class Layout:
    """Where everything lives, under one artifacts root."""

    root: Path = Path("artifacts")
    raw: Path = REPO_ROOT / "data" / "online-retail.csv.gz"
    feature_repo_source: Path = REPO_ROOT / "feature_repo"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def bundles(self) -> Path:
        return self.root / "bundles"

    @property
    def bundle(self) -> Path:
        return self.bundles / "LATEST"

    @property
    def evaluation(self) -> Path:
        return self.root / "evaluation"

    @property
    def demo(self) -> Path:
        return self.root / "demo"

    @property
    def history(self) -> Path:
        """The prepared data cut at the split: what the shop knew before the replayed period."""
        return self.demo / "history"

    @property
    def feature_repo(self) -> Path:
        """The demo's own copy of feature_repo/ (its data/ never touches the committed repo)."""
        return self.demo / "feature_repo"

    @property
    def offline_store(self) -> Path:
        """Where ingested events are appended for retraining (OfflineAppendSink's root)."""
        return self.demo / "offline"

    @property
    def logs(self) -> Path:
        return self.demo / "logs"

    @property
    def stamps(self) -> Path:
        return self.demo / "stamps.json"


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    #: the `fulcrum` sub-command and its options (None: ``action`` runs in-process)
    argv: tuple[str, ...] | None
    inputs: tuple[Path, ...]
    outputs: tuple[Path, ...]
    action: Callable[[], None] | None = None
    #: when not None, the step cannot run in this build and says why
    unavailable: str | None = None
    before: Callable[[], None] | None = None
    #: more of what the output depends on than argv and input files (e.g. embedded defaults)
    salt: str = ""


@dataclass
class StepResult:
    name: str
    title: str
    status: str  # ran | skipped | not available | failed
    seconds: float = 0.0
    note: str = ""


@dataclass
class Timeline:
    results: list[StepResult] = field(default_factory=list)

    def add(self, result: StepResult) -> StepResult:
        self.results.append(result)
        return result


# ---- what this build offers -------------------------------------------------------------------


def _command(path: tuple[str, ...]):
    """The callback registered for ``fulcrum <path...>``, or None."""
    from typer.main import get_command

    from fulcrum.cli import app

    cmd = get_command(app)
    for part in path:
        commands = getattr(cmd, "commands", None)
        if not commands or part not in commands:
            return None
        cmd = commands[part]
    return getattr(cmd, "callback", None)


def has_command(*path: str) -> bool:
    return _command(tuple(path)) is not None


def command_has_option(path: tuple[str, ...], param: str) -> bool:
    callback = _command(path)
    if callback is None:
        return False
    target = inspect.unwrap(callback)
    return param in inspect.signature(target).parameters


def _missing(*path: str) -> str | None:
    return None if has_command(*path) else f"`fulcrum {' '.join(path)}` is not registered in this build"


# ---- the steps --------------------------------------------------------------------------------


def prepare_step(lay: Layout) -> Step:
    outputs = tuple(lay.data / n for n in ("events.parquet", "items.parquet", "split.json"))
    return Step(
        "prepare",
        "prepare the Online Retail data",
        ("data", "prepare", "--raw", str(lay.raw), "--out", str(lay.data)),
        (lay.raw,),
        outputs,
        unavailable=_missing("data", "prepare"),
    )


def train_step(lay: Layout) -> Step:
    return Step(
        "train",
        "train the default models from the pretrained MiniLM",
        ("train", "--data", str(lay.data), "--out", str(lay.run)),
        (lay.data / "events.parquet", lay.data / "items.parquet"),
        (lay.run / "run.json",),
        unavailable=_missing("train"),
        salt=_train_defaults(),
    )


def _train_defaults() -> str:
    """The embedded training config (with its FULCRUM_* overrides) as JSON: a change of the
    defaults makes the old run stale."""
    try:
        from offline.train_config import load_config

        return load_config(None).model_dump_json()
    except Exception:  # noqa: BLE001 - no training extra or a bad override: `fulcrum train` says why
        return ""


def export_step(lay: Layout) -> Step:
    return Step(
        "export",
        "export the ONNX bundle",
        ("export", "--run", str(lay.run), "--out", str(lay.bundles)),
        (lay.run,),
        (lay.bundle / "manifest.json",),
        unavailable=_missing("export"),
    )


def evaluate_step(lay: Layout) -> Step:
    argv = ["evaluate", "--data", str(lay.data), "--out", str(lay.evaluation)]
    for name in BASELINES:
        argv += ["--baseline", name]
    inputs: tuple[Path, ...] = (lay.data / "events.parquet",)
    note = None
    outputs: tuple[Path, ...] = (lay.evaluation / "results.json",)
    if command_has_option(("evaluate",), "bundle"):
        # the bundle report: <--out>/{report.md, metrics.json, *.png} (offline/report)
        bundle = pinned(lay)
        argv += ["--bundle", str(bundle)]
        inputs += (bundle,)
        outputs = (lay.evaluation / "metrics.json",)
    else:
        note = "model column (`fulcrum evaluate --bundle`)"
    step = Step(
        "evaluate",
        "evaluate the model against the baselines (OR-temporal, test split)",
        tuple(argv),
        inputs,
        outputs,
        unavailable=_missing("evaluate"),
    )
    return step if note is None or step.unavailable else _with_note(step, note)


def _with_note(step: Step, missing: str) -> Step:
    # baselines still run; the summary says which part is missing
    return Step(
        step.name,
        f"{step.title} [not available: {missing}]",
        step.argv,
        step.inputs,
        step.outputs,
        step.action,
        None,
        step.before,
    )


def history_step(lay: Layout) -> Step:
    outputs = tuple(lay.history / n for n in ("events.parquet", "items.parquet", "split.json"))
    return Step(
        "history",
        "cut the data at the split (the online store starts from train only)",
        None,
        (lay.data,),
        outputs,
        action=lambda: write_history(lay.data, lay.history),
    )


def features_step(lay: Layout) -> Step:
    argv = (
        "features",
        "apply",
        "--data",
        str(lay.history),
        "--repo",
        str(lay.feature_repo),
        "--bundle",
        str(pinned(lay)),
        "--full",
    )
    return Step(
        "features",
        "apply and materialise the Feast repo (SQLite)",
        argv,
        (lay.history, pinned(lay)),
        (lay.feature_repo / "data" / "registry.db",),
        unavailable=_missing("features", "apply"),
        before=lambda: copy_feature_repo(lay),
    )


def offline_steps(lay: Layout) -> list[Step]:
    return [factory(lay) for factory in STEP_FACTORIES]


def pinned(lay: Layout) -> Path:
    """The bundle ``LATEST`` points to NOW, as a concrete version folder: the steps after the
    export work on that one even if another export moves ``LATEST`` meanwhile."""
    return lay.bundle.resolve() if lay.bundle.exists() else lay.bundle


#: built one at a time, right before each runs (a step may depend on what the previous wrote)
STEP_FACTORIES = (prepare_step, train_step, export_step, evaluate_step, history_step, features_step)
STEP_NAMES = ("prepare", "train", "export", "evaluate", "history", "features")


# ---- step actions -----------------------------------------------------------------------------


def write_history(data: Path, out: Path) -> None:
    """The train split only (events before the cut-off), with the same items and split.json."""
    import pandas as pd

    from fulcrum.core import schema as S

    events = pd.read_parquet(data / S.EVENTS_FILE)
    out.mkdir(parents=True, exist_ok=True)
    train = events[events[S.SPLIT].astype(str) == "train"]
    tmp = out / f".{S.EVENTS_FILE}.tmp"
    train.to_parquet(tmp, index=False)
    tmp.replace(out / S.EVENTS_FILE)
    for name in (S.ITEMS_FILE, S.SPLIT_FILE):
        shutil.copy2(data / name, out / name)


def copy_feature_repo(lay: Layout) -> None:
    """A fresh copy of feature_repo/ (definitions and config, not data/) for the demo."""
    dest = lay.feature_repo
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(lay.feature_repo_source, dest, ignore=shutil.ignore_patterns("data", "__pycache__"))
    (dest / "data").mkdir()


# ---- running ----------------------------------------------------------------------------------


def fulcrum_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "fulcrum.cli", *args]


def run_step(step: Step, stamps: Stamps, console, index: int, total: int, force: bool = False) -> StepResult:
    header = f"[bold cyan][{index}/{total}] {step.title}[/bold cyan]"
    if step.unavailable:
        console.print(f"{header}\n  [yellow]not available:[/yellow] {step.unavailable}")
        return StepResult(step.name, step.title, "not available", note=step.unavailable)
    key = fingerprint((*(step.argv or (step.name,)), step.salt), step.inputs)
    if not force and is_current(stamps.values, step.name, key, step.outputs):
        console.print(
            f"{header}\n  [green]skipped:[/green] outputs are current "
            f"({', '.join(str(p) for p in step.outputs[:2])})"
        )
        return StepResult(step.name, step.title, "skipped")
    console.print(header)
    if step.argv is not None:
        console.print(f"  $ fulcrum {' '.join(step.argv)}", highlight=False)
    started = time.perf_counter()
    if step.before is not None:
        step.before()
    if step.action is not None:
        step.action()
    else:
        rc = subprocess.call(fulcrum_argv(*step.argv))
        if rc != 0:
            seconds = time.perf_counter() - started
            raise StepFailed(step, rc, seconds)
    seconds = time.perf_counter() - started
    stamps.set(step.name, fingerprint((*(step.argv or (step.name,)), step.salt), step.inputs))
    console.print(f"  [green]done[/green] in {seconds:,.1f} s")
    return StepResult(step.name, step.title, "ran", seconds)


class StepFailed(RuntimeError):
    def __init__(self, step: Step, rc: int, seconds: float) -> None:
        super().__init__(f"step {step.name!r} failed (exit code {rc}): fulcrum {' '.join(step.argv or ())}")
        self.step, self.rc, self.seconds = step, rc, seconds
