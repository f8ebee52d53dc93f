"""The CLI imports a command's module only when that command runs: `fulcrum serve` loads
neither offline/ nor benchmarks/ (nor torch), and the serving image can ship without them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("offline", "benchmarks", "torch", "transformers", "fulcrum.demo")

PROBE = """
import json, sys
block = sys.argv[2:]
for name in block:  # as if the package were not installed (the serving image)
    sys.modules[name] = None
import typer
from fulcrum.cli import app
command = typer.main.get_command(app)
try:
    command.main(sys.argv[1].split(), prog_name="fulcrum", standalone_mode=False)
except SystemExit:
    pass
except Exception as e:
    print("ERROR " + str(e), file=sys.stderr)
    raise
heavy = sorted({m for m in sys.modules if sys.modules[m] is not None
                and (m.split(".")[0] in ("offline", "benchmarks", "torch", "transformers")
                     or m.startswith("fulcrum.demo"))})
print(json.dumps(heavy))
"""


def _run(argv: str, *blocked: str) -> tuple[list[str], str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, argv, *blocked], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


@pytest.mark.parametrize("argv", ["serve --help", "ingest --help", "replay --help", "bench ingest --help"])
def test_serving_commands_import_no_offline_benchmarks_or_torch(argv):
    heavy, _ = _run(argv)
    assert heavy == [], f"`fulcrum {argv}` imported {heavy}"


def test_the_probe_sees_a_command_that_does_import_offline():
    # the check above can fail: `fulcrum train --help` does load offline/
    heavy, _ = _run("train --help")
    assert any(m.startswith("offline") for m in heavy), heavy


def test_a_command_whose_package_is_missing_fails_in_one_line_and_help_still_lists_it():
    # offline/ absent (as in the serving image): serve works, train names what is missing
    heavy, _ = _run("serve --help", "offline", "benchmarks")
    assert heavy == []
    _, err = _run("train --data x", "offline", "benchmarks")
    assert "fulcrum train: not available in this installation (offline.commands.train" in err
    proc = subprocess.run([sys.executable, "-c", "import sys; sys.modules['offline'] = None\n"
                           "from fulcrum.cli import main; sys.argv = ['fulcrum', '--help']; main()"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "not installed here" in proc.stdout and "serve" in proc.stdout


def test_every_online_and_core_module_imports_without_offline_benchmarks_or_torch():
    """The serving image (deploy/docker/Dockerfile.serve copies fulcrum/ and online/ only): every
    module under online/ and fulcrum/core/ imports with offline/, benchmarks/, torch and
    transformers made unimportable, and `fulcrum serve` / `fulcrum ingest` still parse. (Imports
    inside functions are checked from the source by tests/test_import_direction.py.)"""
    code = (
        "import importlib, json, pkgutil, sys\n"
        "for name in ('offline', 'benchmarks', 'torch', 'transformers'):\n"
        "    sys.modules[name] = None  # `import name` raises ImportError, as if not installed\n"
        "import fulcrum.core, online\n"
        "names = []\n"
        "for pkg in (fulcrum.core, online):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "        names.append(m.name)\n"
        "import typer\n"
        "from fulcrum.cli import app\n"
        "group = typer.main.get_command(app)\n"
        "for argv in (['serve', '--help'], ['ingest', '--help']):\n"
        "    try:\n"
        "        group.main(argv, prog_name='fulcrum', standalone_mode=False)\n"
        "    except SystemExit as e:\n"
        "        assert not e.code, (argv, e.code)\n"
        "print(json.dumps(names))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = json.loads(proc.stdout.strip().splitlines()[-1])
    # the walk really covered the serving code, the moved core pieces included
    for expected in ("online.server.command", "online.ingest.consumer", "fulcrum.core.bundle.loader",
                     "fulcrum.core.feature_store", "fulcrum.core.rerank.ordering", "fulcrum.core.errors"):
        assert expected in names
