"""Which bundle a ``ReloadModel`` may name: a published version under ``bundles_root``.

``resolve_version(root, name)`` returns the real (symlink-free) path of ``<root>/<name>`` when
``name`` is a plain version name (letters, digits, ``._-``; no separator, no leading dot, so
neither ``..`` nor a hidden folder such as retraining's ``.candidates/`` of refused candidates)
and the folder it resolves to is a DIRECT child of the real ``root`` holding a manifest
(``LATEST``, a symlink to a sibling, qualifies). Anything else, missing or forbidden, gets the
same ``NotFound`` message, so a caller cannot probe the file system through it.

``is_rollback`` compares the manifests' ``created_at``: loading an older bundle than the serving
one needs the explicit ``allow_rollback`` flag; a manifest without a readable ``created_at``
counts as older (fail closed).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from fulcrum.core import bundle_format as bf
from fulcrum.core.errors import NotFound

VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def resolve_version(root: Path, name: str) -> Path:
    missing = NotFound(f"version {name[:128]!r}: no published bundle of that name under bundles_root")
    if not VERSION_NAME.fullmatch(name):
        raise missing
    try:
        real_root = Path(root).resolve(strict=True)
        target = (real_root / name).resolve(strict=True)
    except (OSError, RuntimeError):
        raise missing from None
    if target.parent != real_root or target.name.startswith(".") or not (target / bf.MANIFEST).is_file():
        raise missing
    return target


def _created(text: str) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def is_rollback(candidate_created_at: str, serving_created_at: str) -> bool:
    """True when the candidate is older than the serving bundle (or either date is unreadable
    while they differ)."""
    if candidate_created_at == serving_created_at:
        return False
    cand, serv = _created(candidate_created_at), _created(serving_created_at)
    if cand is None or serv is None:
        return True
    return cand < serv
