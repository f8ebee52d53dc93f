"""The bundle's lexical index: BM25 postings over the exported items' texts, analysed by
``fulcrum.core.search.analyzer``, written to ``lexical_index/`` (every file sha256-listed in the
manifest like the rest of the bundle) and described by the manifest's ``lexical_index`` block."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from fulcrum.core import bundle_format as bf
from fulcrum.core.search.lexical_index import FOLDER, FORMAT, LexicalIndex
from fulcrum.core.search.postings import K1, B
from offline.export.errors import ExportError


def write_lexical_index(bundle_dir: Path) -> dict:
    started = time.perf_counter()
    items = pd.read_parquet(bundle_dir / bf.ITEMS)
    if "text" not in items.columns:
        raise ExportError(f"{bf.ITEMS} has no text column: the lexical index needs item texts")
    texts = items["text"].fillna("").astype(str).tolist()
    index = LexicalIndex.build(texts)
    index.save(bundle_dir / FOLDER)
    reloaded = LexicalIndex.load(bundle_dir / FOLDER)
    if reloaded.n_docs != len(items) or len(reloaded.vocab) != len(index.vocab):
        raise ExportError(f"{FOLDER}: the written index does not read back ({reloaded.n_docs} rows)")
    return {
        "folder": FOLDER,
        "library": "fulcrum.core.search.postings",
        "format": FORMAT,
        "k1": K1,
        "b": B,
        "rows": len(items),
        "terms": len(index.vocab),
        "analyzer": "fulcrum.core.search.analyzer",
        "build_seconds": round(time.perf_counter() - started, 3),
    }
