"""One parsed tokenizer per (tokenizer.json content, max length) in a process
(fulcrum/core/bundle/encoders.py ``shared_tokenizer``): a reload with the same tokenizer parses
nothing, and the shared object encodes exactly as a freshly loaded, configured one."""

from __future__ import annotations

import shutil
from pathlib import Path

from tokenizers import Tokenizer

from fulcrum.core import bundle_format as bf
from fulcrum.core.bundle.encoders import shared_tokenizer


def test_shared_per_content_and_length(tiny_bundle: Path, tmp_path: Path) -> None:
    path = tiny_bundle / bf.TOKENIZER
    copy = shutil.copy(path, tmp_path / "tokenizer.json")  # another file, the same content
    a = shared_tokenizer(str(path), 16)
    assert shared_tokenizer(str(copy), 16) is a
    assert shared_tokenizer(str(path), 8) is not a  # another truncation: another object
    fresh = Tokenizer.from_file(str(path))
    fresh.enable_truncation(max_length=16)
    fresh.no_padding()
    texts = ["red heart lantern " * 10, "tea set", ""]
    assert [e.ids for e in a.encode_batch(texts)] == [e.ids for e in fresh.encode_batch(texts)]
    assert max(len(e.ids) for e in a.encode_batch(texts)) == 16
    edited = tmp_path / "edited.json"
    edited.write_text(path.read_text().replace('"', '"', 1) + " ")  # other bytes, same tokenizer
    assert shared_tokenizer(str(edited), 16) is not a
