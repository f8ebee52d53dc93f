"""The live catalogue's lexical index: load it from the bundle, keep it current on upserts.

The index itself (BM25 postings over ``fulcrum.core.search.analyzer`` terms) lives in
``fulcrum.core.search.lexical_index`` so offline evaluation scores with the same code. Here:

- ``load_lexical(path, files, texts)``: the bundle's ``lexical_index/`` when the manifest lists
  it (its files are sha256-verified with the rest of the bundle), else -- bundles exported
  before the index existed, or with the bm25s format of earlier versions -- one built from the
  item texts at load time, with a warning naming the fix (re-export). Either way the index
  exists before the server answers.
- ``grown(old, new, item_ids, texts, search_vectors)``: the snapshot ``new`` (made by
  ``Catalogue.with_items``) with ``item_ids`` indexed under their new texts -- O(their words),
  no rebuild (``LexicalIndex.with_docs``); an item whose text did not change (a price update)
  costs nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fulcrum.core.search.lexical_index import FOLDER, LegacyIndexFolder, LexicalIndex

if TYPE_CHECKING:
    from fulcrum.core.bundle.catalogue import Catalogue

log = logging.getLogger(__name__)


def listed(files: Collection[str]) -> bool:
    return any(f.startswith(FOLDER + "/") for f in files)


def load_lexical(path: Path, files: Collection[str], texts: Sequence[str]) -> LexicalIndex:
    started = time.perf_counter()
    why = f"has no {FOLDER}/"
    if listed(files):
        try:
            index = LexicalIndex.load(Path(path) / FOLDER)
        except LegacyIndexFolder:
            why = f"has the bm25s format of earlier versions in {FOLDER}/"
        else:
            if index.n_docs != len(texts):
                raise ValueError(f"{FOLDER} has {index.n_docs} rows, items.parquet {len(texts)}")
            index.warm()  # speller and compounds built now, not by the first query
            return index
    index = LexicalIndex.build(texts)
    index.warm()  # speller and compounds built now, not by the first query
    log.warning(
        "bundle %s %s: built the lexical index from items.parquet in %.2f s "
        "(re-export the run with this version to ship it in the bundle)",
        path,
        why,
        time.perf_counter() - started,
    )
    return index


def grown(old: Catalogue, new: Catalogue, item_ids: Sequence[str], texts: Sequence[str]) -> Catalogue:
    """``new`` with Search's lexical index updated for the upserted items (their search vectors
    grew with the catalogue's other rows: fulcrum/core/bundle/catalogue_growth.py)."""
    rows = [new.index[i] for i in item_ids]
    index = old.lexical
    if index is not None:
        n_old = len(old)
        old_texts = [str(old.texts[r]) if r < n_old else None for r in rows]
        index = index.with_docs(rows, [str(t) for t in texts], old_texts, len(new))
    return dataclasses.replace(
        new,
        lexical=index,
        word_neighbours=old.word_neighbours,
        query_adapter=old.query_adapter,
    )
