"""Read a bundle's manifest and verify every file against its sha256 before anything is used.

The manifest's ``files`` maps a path relative to the bundle folder to its sha256 (a plain hex
string, or ``{"sha256": hex, ...}``). A bundle is refused (``BundleInvalid``) when the manifest is
missing or malformed, a required file is not listed, a listed file is missing, escapes the
folder, or its hash differs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
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
DEFAULT_TEXT_MAX_LENGTH = 32
DEFAULT_HISTORY_LENGTH = 50


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


def _first(d: Mapping[str, Any], *keys: str) -> Any:
    """The value of the first key present, also looking one level into ``max_lengths``."""
    for key in keys:
        node: Any = d
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                node = None
                break
            node = node[part]
        if node is not None:
            return node
    return None


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
    text_len = _first(
        raw, "max_lengths.text", "max_lengths.item_text", "max_length", "text_max_length", "max_text_length"
    )
    hist_len = _first(raw, "max_lengths.history", "history_length", "max_history")
    metrics = raw.get("metrics") or {}
    return Manifest(
        path=folder,
        version=str(raw.get("version") or "unknown"),
        created_at=str(raw.get("created_at") or ""),
        text_max_length=int(text_len or DEFAULT_TEXT_MAX_LENGTH),
        history_length=int(hist_len or DEFAULT_HISTORY_LENGTH),
        text_template=str(_first(raw, "text_template", "item_text_template") or ITEM_TEXT_TEMPLATE),
        metrics=metrics if isinstance(metrics, Mapping) else {},
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
