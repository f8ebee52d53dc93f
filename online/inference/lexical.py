"""Lexical match for Search: the share of the query's words an item's text contains.

``WordIndex`` maps each word (``fulcrum.core.text.words``) to the catalogue rows whose text holds
it, built once per catalogue snapshot; ``overlap(query)`` is then a few array additions per query
word instead of a pass over every item's text. Pure NumPy; no model involved. Search adds
``search_lexical_weight`` x overlap to the semantic (query-item cosine) relevance, so an item
naming what the shopper typed is not outranked by one that is merely near it in embedding space.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fulcrum.core.text import words


class WordIndex:
    def __init__(self, texts: Sequence[str]) -> None:
        postings: dict[str, list[int]] = {}
        for row, text in enumerate(texts):
            for w in words(text):
                postings.setdefault(w, []).append(row)
        self.n = len(texts)
        self._rows = {w: np.asarray(r, dtype=np.int64) for w, r in postings.items()}

    def overlap(self, query: str) -> np.ndarray:
        """[n] share of the query's distinct words found in each item's text (0 for an empty query)."""
        out = np.zeros(self.n, dtype=np.float64)
        q = words(query)
        if not q:
            return out
        for w in q:
            rows = self._rows.get(w)
            if rows is not None:
                out[rows] += 1.0
        return out / len(q)
