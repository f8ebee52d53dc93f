"""Is a step's output current? A step is skipped when a stamp written after its last success
matches the fingerprint of its command line and inputs, and its outputs still exist.

Fingerprints use each file's relative path, size and modification time (not its contents): the
demo's inputs are large (a BERT folder, parquet files) and any rewrite changes the mtime. A raw
file copied over with the same bytes re-runs its steps, which is the safe direction.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path


def _entries(path: Path) -> list[tuple[str, int, int]]:
    """(relative path, size, mtime_ns) of a file, or of every file under a folder (symlinks
    followed, so ``bundles/LATEST`` fingerprints the bundle it points to)."""
    if not path.exists():
        return [("<missing>", -1, -1)]
    if path.is_file():
        st = path.stat()
        return [(path.name, st.st_size, st.st_mtime_ns)]
    out = []
    for root, dirs, files in os.walk(path, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            p = Path(root) / name
            st = p.stat()
            out.append((str(p.relative_to(path)), st.st_size, st.st_mtime_ns))
    return out


def fingerprint(argv: Sequence[str], inputs: Iterable[Path]) -> str:
    """One hex digest of the command line and the state of every input path."""
    h = hashlib.sha256()
    h.update(json.dumps(list(argv)).encode())
    for path in inputs:
        h.update(str(path).encode())
        h.update(json.dumps(_entries(Path(path))).encode())
    return h.hexdigest()


def is_current(stamps: Mapping[str, str], step: str, key: str, outputs: Iterable[Path]) -> bool:
    """True when ``step`` last succeeded with this ``key`` and every output exists."""
    return stamps.get(step) == key and all(Path(p).exists() for p in outputs)


class Stamps:
    """``{step: fingerprint}`` in a small JSON file, rewritten atomically after each success."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.values: dict[str, str] = dict(json.loads(self.path.read_text()))
        except (OSError, ValueError):
            self.values = {}

    def set(self, step: str, key: str) -> None:
        self.values[step] = key
        self._write()

    def forget(self, step: str) -> None:
        if self.values.pop(step, None) is not None:
            self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.values, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.path)
