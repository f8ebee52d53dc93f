"""fulcrum/core/manifest.py is the manifest's one writer and one reader: what the writer puts
down, the reader gives back typed; anything the reader needs and cannot find is refused with the
field's name (no alias keys, no silent defaults)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fulcrum.core import bundle_format as bf
from fulcrum.core.errors import BundleInvalid
from fulcrum.core.manifest import (
    REQUIRED_FILES,
    WRITER_KEYS,
    load_verified_manifest,
    read_manifest,
    write_manifest,
)
from fulcrum.core.text import ITEM_TEXT_TEMPLATE

BODY = {
    "max_lengths": {"text": 24, "history": 50},
    "text_template": ITEM_TEXT_TEMPLATE,
    "metrics": {"validation": {"ndcg@10": 0.125}},
    "embedding_dim": 4,
}


def _bundle(tmp_path: Path, body: dict = BODY) -> Path:
    folder = tmp_path / "bundle"
    (folder / "sub").mkdir(parents=True)
    for i, name in enumerate(REQUIRED_FILES):
        (folder / name).write_bytes(f"file {i}".encode())
    (folder / "sub" / "extra.json").write_text("{}")
    write_manifest(folder, body)
    return folder


def test_what_the_writer_writes_the_reader_returns(tmp_path: Path) -> None:
    folder = _bundle(tmp_path)
    raw = json.loads((folder / bf.MANIFEST).read_text())
    m = load_verified_manifest(folder)
    assert (m.version, m.created_at) == (raw["version"], raw["created_at"])
    assert (m.text_max_length, m.history_length) == (24, 50)
    assert m.text_template == ITEM_TEXT_TEMPLATE
    assert m.metrics == BODY["metrics"]
    # every file but the manifest, by relative path, with its sha256
    assert set(m.files) == {*REQUIRED_FILES, "sub/extra.json"}
    assert m.files["sub/extra.json"] == bf.sha256_file(folder / "sub" / "extra.json")
    assert raw["format"] == bf.BUNDLE_FORMAT and raw["embedding_dim"] == 4
    assert set(WRITER_KEYS) <= set(raw)


def test_a_rewrite_of_a_read_manifest_keeps_the_body(tmp_path: Path) -> None:
    # how a step re-publishes a bundle (offline/search_log/learn.py): body = raw minus WRITER_KEYS
    folder = _bundle(tmp_path)
    raw = json.loads((folder / bf.MANIFEST).read_text())
    (folder / "adapter.npy").write_bytes(b"new")
    again = write_manifest(folder, {k: v for k, v in raw.items() if k not in WRITER_KEYS})
    assert {k: again[k] for k in BODY} == BODY and "adapter.npy" in again["files"]
    assert read_manifest(folder).files == again["files"]
    with pytest.raises(ValueError, match="version"):
        write_manifest(folder, {**BODY, "version": "mine"})


def test_a_file_changed_after_writing_is_refused(tmp_path: Path) -> None:
    folder = _bundle(tmp_path)
    (folder / "sub" / "extra.json").write_text('{"changed": 1}')
    with pytest.raises(BundleInvalid, match="sub/extra.json sha256"):
        load_verified_manifest(folder)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        # the old alias keys are not read any more: only max_lengths.text / .history
        (lambda b: {**b, "max_lengths": {"history": 50}, "max_length": 24}, "max_lengths.text"),
        (lambda b: {**b, "max_lengths": {"text": 24, "history_events": 50}}, "max_lengths.history"),
        (lambda b: {**b, "max_lengths": {"text": "24", "history": 50}}, "max_lengths.text"),
        (lambda b: {k: v for k, v in b.items() if k != "text_template"}, "text_template"),
        (lambda b: {**b, "metrics": [1]}, "metrics"),
    ],
)
def test_a_missing_or_mistyped_field_is_named(tmp_path: Path, change, field: str) -> None:
    folder = _bundle(tmp_path, change(dict(BODY)))
    with pytest.raises(BundleInvalid, match=field.replace(".", r"\.")):
        read_manifest(folder)
