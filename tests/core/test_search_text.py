"""Search's relevance parts: the text-only item vectors the query is compared with and the lexical
index shipped in the bundle (real tiny bundle)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fulcrum.core import bundle_format as bf
from fulcrum.core.text import words


def test_words_are_distinct_lower_case_letter_digit_runs() -> None:
    assert words("RED Heart, T-Light  holder 6x") == {"red", "heart", "t", "light", "holder", "6x"}
    assert words(None) == frozenset() and words("  ") == frozenset()


def test_the_bundle_carries_text_vectors_equal_to_the_item_encoder(tiny_bundle: Path) -> None:
    from fulcrum.core.bundle.loader import load_bundle

    manifest = json.loads((tiny_bundle / bf.MANIFEST).read_text())
    assert bf.ITEM_TEXT_EMBEDDINGS in manifest["files"]
    b = load_bundle(tiny_bundle, execution_provider="cpu", intra_op_threads=1)
    cat = b.catalogue
    assert cat.text_embeddings is not None
    # Search compares queries with the pooled search space the bundle ships (space.py)
    assert cat.search_vectors is not None and cat.search_embeddings is cat.search_vectors
    # the stored text vectors are what the ONNX item encoder gives for the items' texts
    rows = np.arange(min(8, len(cat)))
    from fulcrum.core.text import render_item_text

    enc = b.text_encoder([render_item_text(str(cat.texts[r])) for r in rows])
    assert np.allclose(enc, cat.text_embeddings[rows], atol=1e-4)
    # the shipped search encoder (int8 when it keeps quality) puts items where their vectors are
    pooled = np.stack(b.search_encoder([render_item_text(str(cat.texts[r])) for r in rows]))
    assert float((pooled * cat.search_vectors[rows]).sum(1).mean()) >= 0.98
    # warm items' catalogue vectors carry an id residual, so they differ from the text vectors
    assert not np.allclose(cat.embeddings, cat.text_embeddings, atol=1e-3)
    # an upserted item enters both spaces with the same vector
    grown = cat.with_items(["new-1"], ["a new thing"], enc[:1], [1.0], now=0.0, search_vectors=pooled[:1])
    assert np.array_equal(grown.text_embeddings[-1], grown.embeddings[-1])
    assert np.array_equal(grown.search_vectors[-1], pooled[0]) and len(grown.search_vectors) == len(cat) + 1
    # ... and into the lexical index: only the new row matches its own words
    terms, _ = grown.lexical.terms("new thing")
    lexical = grown.lexical.scores(terms, len(grown))
    assert lexical[-1] > 0 and np.count_nonzero(lexical) == 1
