"""The CLI imports a command's module only when that command runs: `fulcrum serve` loads
neither offline/ nor benchmarks/ (nor torch), and the serving image can ship without them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
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
