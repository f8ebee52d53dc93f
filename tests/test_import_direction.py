"""The layers' import direction, read from the source (every import statement, also the ones
inside functions), so a lazy import cannot hide an arrow pointing the wrong way:

    app (CLI, demo, client, bench; benchmarks/)  ->  offline | online  ->  fulcrum.core  ->  fulcrum.v1

- offline/ imports nothing from online/ and never grpc;
- fulcrum/core/ imports neither offline/ nor online/ nor the application layer;
- online/ imports neither offline/ nor torch / transformers (tests/test_online_imports.py
  checks the same at run time, in a fresh interpreter).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = ("fulcrum.cli", "fulcrum.demo", "fulcrum.client", "fulcrum.bench", "fulcrum.security", "benchmarks")

#: package -> the top-level modules / dotted prefixes it must never import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "offline": ("online", "grpc"),
    "fulcrum/core": ("offline", "online", *APP),
    "online": ("offline", "torch", "transformers"),
}

#: arrows allowed despite the rules above, by module and imported name (none today; an entry
#: must go when its arrow does, checked below)
KNOWN: dict[str, set[str]] = {}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute dotted names; relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            out.add(mod)
            # `from pkg import sub` may import a submodule: count pkg.sub too
            out.update(f"{mod}.{alias.name}" for alias in node.names if alias.name != "*")
    return out


def _hits(name: str, forbidden: tuple[str, ...]) -> bool:
    return any(name == f or name.startswith(f + ".") for f in forbidden)


def violations(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = {m for m in imports_of(path) if _hits(m, FORBIDDEN[package])}
        if bad:
            found[path.relative_to(ROOT).as_posix()] = bad
    return found


def _collapse(found: dict[str, set[str]]) -> dict[str, set[str]]:
    """``from fulcrum.core.bundle.loader import load_bundle`` yields fulcrum.core.bundle.loader and
    fulcrum.core.bundle.loader.load_bundle: keep the shortest forbidden name of each statement, so the
    report (and KNOWN) names modules, not the things imported from them."""
    return {
        f: {m for m in mods if not any(o != m and m.startswith(o + ".") for o in mods)}
        for f, mods in found.items()
    }


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_points_up_or_sideways(package: str) -> None:
    found = _collapse(violations(package))
    unexpected = {f: m - KNOWN.get(f, set()) for f, m in found.items() if m - KNOWN.get(f, set())}
    assert unexpected == {}, f"{package}/ imports what its layer must not: {unexpected}"


def test_every_known_exception_still_exists() -> None:
    # an arrow that was removed must leave KNOWN too, or the list would silently allow it again
    found = _collapse(violations("offline"))
    stale = {f: m - found.get(f, set()) for f, m in KNOWN.items() if m - found.get(f, set())}
    assert stale == {}, f"remove from KNOWN, these imports are gone: {stale}"


def test_the_walk_sees_lazy_relative_and_from_imports(tmp_path: Path, monkeypatch) -> None:
    # the check can fail: an import inside a function, a from-import of a submodule and a
    # relative import are all found
    pkg = tmp_path / "offline" / "sub"
    pkg.mkdir(parents=True)
    (tmp_path / "offline" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "m.py").write_text(
        "def f():\n    from online.rerank import ordering\n    import grpc\n    from .. import sibling\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = _collapse(violations("offline"))
    assert found == {"offline/sub/m.py": {"online.rerank", "grpc"}}
    assert imports_of(pkg / "m.py") >= {"offline", "offline.sibling"}
