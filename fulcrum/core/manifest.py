"""The bundle's manifest.json -- the one contract between offline/ and online/ -- written and
read here, and nowhere else.

Writer (``write_manifest``, used by the export and by every step that re-publishes a bundle):
the caller's body (config, data_fingerprint, models, embedding_dim, item_count, max_lengths
(``text`` = item/query tokens, ``history`` = user events), text_template, tokenizer,
event_type_codes, rank_features, metrics, ...) plus the keys only the writer sets
(``WRITER_KEYS``: format, version = UTC timestamp + short content hash, created_at, git commit
and dirty flag, files = relative path -> sha256 of every other file).

Reader (``read_manifest`` -> the typed ``Manifest``; ``load_verified_manifest`` also hashes
every file): a bundle is refused (``BundleInvalid``) when the manifest is missing or malformed,
a field the reader needs is missing or of the wrong type (the message names it), a required file
is not listed, a listed file is missing, escapes the folder, or its hash differs. ``files`` maps
a path relative to the bundle folder to its sha256 (a plain hex string, or ``{"sha256": hex}``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fulcrum.core import bundle_format as bf
from fulcrum.core.errors import BundleInvalid, NotFound
from fulcrum.core.text import ITEM_TEXT_TEMPLATE

log = logging.getLogger(__name__)

REQUIRED_FILES: tuple[str, ...] = (
    bf.ITEM_ENCODER,
    bf.USER_ENCODER,
    bf.RANKER,
    bf.TOKENIZER,
    bf.ITEMS,
    bf.ITEM_EMBEDDINGS,
)
#: the keys ``write_manifest`` sets itself (a re-publishing caller drops them from its body)
WRITER_KEYS: tuple[str, ...] = ("format", "version", "created_at", "git_commit", "git_dirty", "files")
_REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Manifest:
    path: Path  # the bundle folder
    version: str
    created_at: str
    text_max_length: int
    history_length: int
    text_template: str
    metrics: Mapping[str, Any]
    files: Mapping[str, str]  # relative path -> sha256
    raw: Mapping[str, Any]


def _positive_int(raw: Mapping[str, Any], section: str, key: str, mpath: Path) -> int:
    node = raw.get(section)
    value = node.get(key) if isinstance(node, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BundleInvalid(f"{mpath}: {section}.{key} must be a positive integer, got {value!r}")
    return value


def _files(raw: Mapping[str, Any]) -> dict[str, str]:
    files = raw.get("files")
    if not isinstance(files, Mapping) or not files:
        raise BundleInvalid("manifest.json: 'files' must map relative paths to sha256 digests")
    out = {}
    for rel, value in files.items():
        digest = value.get("sha256") if isinstance(value, Mapping) else value
        if not isinstance(digest, str) or len(digest) != 64:
            raise BundleInvalid(f"manifest.json: files[{rel!r}] has no valid sha256")
        out[str(rel)] = digest.lower()
    return out


def _check_shared_definitions(raw: Mapping[str, Any], mpath: Path) -> None:
    """A bundle trained against other event codes or ranking features would serve garbage."""
    from fulcrum.core.rank_features import RANK_FEATURES
    from fulcrum.core.schema import EVENT_TYPE_CODE

    codes = raw.get("event_type_codes")
    if codes is not None and dict(codes) != EVENT_TYPE_CODE:
        raise BundleInvalid(
            f"{mpath}: event_type_codes {dict(codes)} differ from this server's {EVENT_TYPE_CODE}"
        )
    features = raw.get("rank_features")
    if features is not None and list(features) != list(RANK_FEATURES):
        raise BundleInvalid(f"{mpath}: rank_features differ from fulcrum.core.rank_features.RANK_FEATURES")


def read_manifest(folder: Path, public_key=None) -> Manifest:
    """Parse the manifest (no hashing); ``NotFound`` when the folder or manifest is missing.

    ``public_key`` (ed25519): the manifest's bytes must carry a valid ``manifest.sig`` by it;
    the bytes verified are the bytes parsed."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotFound(f"bundle folder not found: {folder}")
    mpath = folder / bf.MANIFEST
    if not mpath.is_file():
        raise BundleInvalid(f"{folder}: no {bf.MANIFEST}")
    try:
        data = mpath.read_bytes()
    except OSError as e:
        raise BundleInvalid(f"{mpath}: cannot read ({e.strerror})") from e
    if public_key is not None:
        _verify_signature(folder, data, public_key)
    try:
        raw = json.loads(data)
    except ValueError as e:
        raise BundleInvalid(f"{mpath}: not valid JSON ({e})") from e
    if not isinstance(raw, Mapping):
        raise BundleInvalid(f"{mpath}: the top level must be an object")
    fmt = raw.get("format", bf.BUNDLE_FORMAT)
    if fmt != bf.BUNDLE_FORMAT:
        raise BundleInvalid(f"{mpath}: format {fmt!r} is not {bf.BUNDLE_FORMAT!r}")
    files = _files(raw)
    missing = [f for f in REQUIRED_FILES if f not in files]
    if missing:
        raise BundleInvalid(f"{mpath}: required files not listed: {', '.join(missing)}")
    _check_shared_definitions(raw, mpath)
    for key in ("version", "created_at", "text_template"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise BundleInvalid(f"{mpath}: {key} must be a non-empty string, got {raw.get(key)!r}")
    metrics = raw.get("metrics", {})
    if not isinstance(metrics, Mapping):
        raise BundleInvalid(f"{mpath}: metrics must be an object")
    return Manifest(
        path=folder,
        version=raw["version"],
        created_at=raw["created_at"],
        text_max_length=_positive_int(raw, "max_lengths", "text", mpath),
        history_length=_positive_int(raw, "max_lengths", "history", mpath),
        text_template=raw["text_template"],
        metrics=metrics,
        files=files,
        raw=raw,
    )


def _verify_signature(folder: Path, data: bytes, public_key) -> None:
    from fulcrum.core.bundle_signature import SIGNATURE, verify_manifest

    try:
        signature = (folder / SIGNATURE).read_text()
    except OSError as e:
        raise BundleInvalid(f"{folder}: no readable {SIGNATURE}: the bundle is not signed") from e
    try:
        verify_manifest(data, signature, public_key)
    except ValueError as e:
        raise BundleInvalid(f"{folder}: {e}") from e


def check_text_template(manifest: Manifest) -> None:
    """Only the plain placeholder: a template is applied to untrusted item texts with
    ``str.format``, so anything else (attribute access, format specs) is refused."""
    if manifest.text_template != ITEM_TEXT_TEMPLATE:
        raise BundleInvalid(
            f"{manifest.path}: text_template {manifest.text_template[:64]!r} is not the plain "
            f"{ITEM_TEXT_TEMPLATE!r}"
        )


def verify_files(manifest: Manifest) -> None:
    """Hash every listed file; raise ``BundleInvalid`` on the first problem."""
    root = manifest.path.resolve()
    for rel, expected in manifest.files.items():
        target = (root / rel).resolve()
        if root not in target.parents:
            raise BundleInvalid(f"manifest.json: file {rel!r} escapes the bundle folder")
        if not target.is_file():
            raise BundleInvalid(f"{manifest.path}: listed file {rel} is missing")
        actual = bf.sha256_file(target)
        if actual != expected:
            raise BundleInvalid(f"{manifest.path}: {rel} sha256 {actual[:12]}… != manifest {expected[:12]}…")
    log.info("bundle %s: %d files verified", manifest.version, len(manifest.files))


def load_verified_manifest(folder: Path, public_key=None) -> Manifest:
    manifest = read_manifest(folder, public_key)
    check_text_template(manifest)
    verify_files(manifest)
    return manifest


# ---- writer ------------------------------------------------------------------------------------


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


def write_manifest(folder: Path, body: Mapping[str, Any]) -> dict[str, Any]:
    """Add the ``WRITER_KEYS`` (version, created_at, git commit, file hashes, ...) to ``body``;
    write manifest.json. ``body`` must not carry them itself."""
    clash = sorted(set(body) & set(WRITER_KEYS))
    if clash:
        raise ValueError(f"manifest body: {', '.join(clash)} are set by write_manifest")
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
