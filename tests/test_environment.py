"""One module reads the process environment (fulcrum/core/environment.py): every other module of
the product takes its variables from there, so a test can hand any reader its own mapping and
one place answers "does this read the environment?"."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from fulcrum.core import environment

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("fulcrum", "offline", "online", "benchmarks")
THE_READER = "fulcrum/core/environment.py"


def environment_reads(path: Path) -> list[str]:
    """``os.environ`` / ``os.getenv`` / ``os.putenv`` uses and ``from os import environ`` (with
    line numbers) in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("environ", "environb", "getenv", "putenv")
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            found.append(f"line {node.lineno}: os.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            names = [a.name for a in node.names if a.name in ("environ", "environb", "getenv", "putenv")]
            found += [f"line {node.lineno}: from os import {n}" for n in names]
    return found


def test_only_the_environment_module_reads_the_environment() -> None:
    offenders = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel != THE_READER and (hits := environment_reads(path)):
                offenders[rel] = hits
    assert offenders == {}, f"read the environment through fulcrum.core.environment: {offenders}"
    assert environment_reads(ROOT / THE_READER)  # the scan does see a read where there is one


def test_the_scan_finds_every_form(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("import os\nfrom os import getenv\na = os.environ['X']\nb = os.getenv('Y')\n")
    expected = {"line 2: from os import getenv", "line 3: os.environ", "line 4: os.getenv"}
    assert set(environment_reads(src)) == expected


def test_current_get_and_child_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FULCRUM_TEST_ONLY_VAR", " a b ")
    assert environment.get("FULCRUM_TEST_ONLY_VAR") == " a b "  # as set, unstripped
    assert environment.current() is os.environ  # live, not a copy taken at import
    mine = {"FULCRUM_TEST_ONLY_VAR": "mine"}
    assert environment.current(mine) is mine and environment.get("FULCRUM_TEST_ONLY_VAR", mine) == "mine"
    assert environment.get("FULCRUM_TEST_ONLY_VAR", {}) is None
    child = environment.child_environment(FULCRUM_TEST_ONLY_CHILD="1")
    assert child["FULCRUM_TEST_ONLY_CHILD"] == "1" and child["FULCRUM_TEST_ONLY_VAR"] == " a b "
    assert "FULCRUM_TEST_ONLY_CHILD" not in os.environ
