"""The bundle's manifest.json: what the bundle is, where it came from, how to feed it.

Keys: format, version (UTC timestamp + short content hash), created_at, git_commit (+ dirty flag),
config (the full training config), data_fingerprint, models (file, inputs/outputs with names,
dtypes and shapes; symbolic axes by name), embedding_dim, item_count, max_lengths (``text`` = item
/query tokens, ``history`` = user events), text_template, tokenizer, event_type_codes,
rank_features, metrics, notes, files (relative path -> sha256 of every other file).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fulcrum.core import bundle_format as bf

_REPO = Path(__file__).resolve().parents[2]


def git_commit() -> dict[str, Any]:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=_REPO, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=_REPO,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
        )
        return {"commit": sha, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None}


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` except the manifest (relative posix paths)."""
    return {
        p.relative_to(folder).as_posix(): bf.sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != bf.MANIFEST
    }


def bundle_version(files: dict[str, str], now: datetime) -> str:
    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:8]
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{digest}"


def write_manifest(folder: Path, body: dict[str, Any]) -> dict[str, Any]:
    """Add version, created_at, git commit and file hashes to ``body``; write manifest.json."""
    now = datetime.now(UTC)
    files = file_hashes(folder)
    git = git_commit()
    manifest = {
        "format": bf.BUNDLE_FORMAT,
        "version": bundle_version(files, now),
        "created_at": now.isoformat(),
        "git_commit": git["commit"],
        "git_dirty": git["dirty"],
        **body,
        "files": files,
    }
    (folder / bf.MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    return manifest
