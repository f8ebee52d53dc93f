"""Search's dense space in the bundle (``fulcrum.core.search.space``): the item encoder's
pooled text output as its own ONNX graph, and every item's pooled vector.

The graph is the trained text tower without its projection: embeddings + BERT layers + mean
pooling + L2 norm. It is checked against PyTorch on real item texts (max |diff| <= 1e-4), then
quantised to int8 (per-channel dynamic); the int8 graph ships alone when its mean cosine to
fp32 is >= the run's int8 bar, else the fp32 graph ships. The item vectors are the run's
``text_pooled.npy`` normalised (computed with the tower when a run has none) and must agree
with the shipped graph on the sample texts (mean cosine >= the same bar). Every catalogue word
is encoded by the shipped graph too (``fulcrum.core.search.synonyms``).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from fulcrum.core import bundle_format as bf
from fulcrum.core.search import space, synonyms
from offline.export.errors import ExportError


def _pooled_module(tower):
    import torch
    from torch import nn

    class PooledText(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tower = tower

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            pooled = self.tower.upper(self.tower.lower(input_ids, attention_mask), attention_mask)
            return nn.functional.normalize(pooled, dim=-1)

    return PooledText().eval()


def _normalised(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def write_search_space(
    bundle_dir: Path, run_dir: Path, tower, tok, text_feeds: list[dict], pick: np.ndarray, min_cosine: float
) -> dict:
    """Write the search graph and item vectors into ``bundle_dir``; return the manifest block.
    ``pick``: the item rows whose texts made the first ``len(pick)`` rows of ``text_feeds``."""
    import torch

    from offline.export import onnx_graphs as og
    from offline.export.parity import check_parity, ort_session
    from offline.export.quantize import quantize_item_encoder

    module = _pooled_module(tower)
    work = Path(tempfile.mkdtemp(prefix="search-space-"))
    try:
        fp32 = work / space.SEARCH_ENCODER
        f0 = text_feeds[0]
        og._export(
            module,
            (torch.from_numpy(f0[bf.IN_INPUT_IDS]), torch.from_numpy(f0[bf.IN_ATTENTION_MASK])),
            fp32,
            [bf.IN_INPUT_IDS, bf.IN_ATTENTION_MASK],
            [bf.OUT_EMBEDDING],
            {bf.IN_INPUT_IDS: {0: "batch", 1: "seq"}, bf.IN_ATTENTION_MASK: {0: "batch", 1: "seq"},
             bf.OUT_EMBEDDING: {0: "batch"}},
        )  # fmt: skip

        def ref(feed):
            with torch.no_grad():
                return [module(*(torch.from_numpy(v) for v in feed.values())).numpy()]

        parity = check_parity(space.SEARCH_ENCODER, fp32, text_feeds, ref)
        int8 = quantize_item_encoder(fp32, work / space.SEARCH_ENCODER_INT8, text_feeds, min_cosine)
        shipped = space.SEARCH_ENCODER_INT8 if int8["kept"] else space.SEARCH_ENCODER
        shutil.copy2(work / shipped, bundle_dir / shipped)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    pooled_file = run_dir / "text_pooled.npy"
    if pooled_file.is_file():
        vectors = _normalised(np.load(pooled_file))
    else:
        import pandas as pd

        from fulcrum.core.text import render_item_text
        from offline.export.run_inputs import text_feeds as feeds_of
        from offline.model.text_dedupe import distinct_texts

        texts = [render_item_text(t) for t in pd.read_parquet(bundle_dir / bf.ITEMS)["text"]]
        distinct, of_item = distinct_texts(texts)  # each distinct text encoded once, mapped back
        with torch.no_grad():
            vectors = np.concatenate(
                [module(*(torch.from_numpy(v) for v in f.values())).numpy() for f in feeds_of(tok, distinct)]
            ).astype(np.float32)[of_item]
    np.save(bundle_dir / space.ITEM_SEARCH_VECTORS, vectors)

    # the shipped graph must place the sample items where their stored vectors are
    sess = ort_session(bundle_dir / shipped)
    got = np.concatenate([sess.run(None, f)[0] for f in text_feeds])[: len(pick)]
    agree = float((_normalised(got) * vectors[pick]).sum(1).mean())
    if agree < min_cosine:
        raise ExportError(
            f"{shipped}: mean cosine {agree:.4f} to item_search_vectors on sample items (< {min_cosine}); "
            "the run's text_pooled.npy does not match its text tower"
        )
    word_count = _write_word_vectors(bundle_dir, tok, sess)
    return {
        "encoder": shipped,
        "words": synonyms.WORDS_FILE,
        "word_vectors": synonyms.VECTORS_FILE,
        "word_count": word_count,
        "stand_in_min_cosine": synonyms.MIN_COSINE,
        "vectors": space.ITEM_SEARCH_VECTORS,
        "dim": int(vectors.shape[1]),
        "parity_max_abs_diff": parity,
        "int8": int8,
        "sample_cosine_to_vectors": agree,
        "space": "mean-pooled, L2-normalised output of the item encoder's BERT (before its projection)",
    }


def _write_word_vectors(bundle_dir: Path, tok, sess) -> int:
    """Every catalogue word (the lexical index's speller vocabulary) through the shipped search
    graph: what an unknown query word is compared with (``fulcrum.core.search.synonyms``)."""
    import json

    from fulcrum.core.search.lexical_index import FOLDER, WORDS
    from offline.export.run_inputs import text_feeds

    words = sorted(w for w in json.loads((bundle_dir / FOLDER / WORDS).read_text()) if w.isalpha())
    if words:
        feeds = text_feeds(tok, words, batch=256)
        vectors = _normalised(np.concatenate([sess.run(None, f)[0] for f in feeds]))
    else:
        vectors = np.zeros((0, 1), dtype=np.float32)
    np.save(bundle_dir / synonyms.VECTORS_FILE, vectors)
    (bundle_dir / synonyms.WORDS_FILE).write_text(json.dumps(words))
    return len(words)
