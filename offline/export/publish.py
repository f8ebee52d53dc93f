"""Publishing a staged bundle folder: ``<out_root>/<version>`` appears whole (a rename) and
``<out_root>/LATEST`` (a symlink) moves to it atomically."""

from __future__ import annotations

from pathlib import Path

from offline.export.errors import ExportError

LATEST = "LATEST"


def publish_folder(tmp: Path, out_root: Path, version: str) -> Path:
    """Make the files world-readable and rename ``tmp`` to ``<out_root>/<version>``
    (``ExportError`` when that exists). LATEST is not moved: see ``point_latest``."""
    final = out_root / version
    if final.exists():
        raise ExportError(f"{final}: already exists")
    for p in (tmp, *tmp.iterdir()):
        p.chmod(0o755 if p.is_dir() else 0o644)
    tmp.rename(final)
    return final


def point_latest(out_root: Path, final: Path) -> None:
    """``<out_root>/LATEST``: a symlink to the newest bundle (replaced atomically)."""
    link = out_root / LATEST
    tmp_link = out_root / f".{LATEST}.tmp"
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    tmp_link.symlink_to(final.name)
    tmp_link.replace(link)
