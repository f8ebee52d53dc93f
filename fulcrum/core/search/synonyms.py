"""Words the catalogue lacks, mapped to catalogue words of the same meaning by the search space.

A query word the lexical index cannot match even after spelling correction (``jewelry`` in a
catalogue that says ``JEWELLERY``, ``color`` against ``COLOUR``) is encoded by the search
encoder and compared with every catalogue word's vector (``search_words.json`` and
``search_word_vectors.npy`` in the bundle, encoded by the same graph at export). The nearest
catalogue word stands in for it in the lexical query when the cosine is at least
``MIN_COSINE``: near-identical meaning, not relatedness (``toiletry`` -> ``toilette`` at 0.83 is
refused; ``jewelry`` -> ``jewellery`` at 0.93 is taken). No synonym list is involved: the
catalogue's own vocabulary and the encoder decide.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

WORDS_FILE = "search_words.json"
VECTORS_FILE = "search_word_vectors.npy"
MIN_COSINE = 0.9


class WordNeighbours:
    def __init__(self, words: Sequence[str], vectors: np.ndarray, min_cosine: float = MIN_COSINE) -> None:
        if len(words) != len(vectors):
            raise ValueError(f"{len(words)} words but {len(vectors)} word vectors")
        self.words = list(words)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.min_cosine = min_cosine
        self.row = {w: i for i, w in enumerate(self.words)}

    def nearest(self, vector: np.ndarray) -> str | None:
        """The catalogue word nearest to ``vector`` if at least ``min_cosine`` close, else None."""
        if not len(self.words):
            return None
        sims = self.vectors @ np.asarray(vector, dtype=np.float32)
        best = int(np.argmax(sims))
        return self.words[best] if float(sims[best]) >= self.min_cosine else None

    def nearest_of(self, candidates: Sequence[str], vector: np.ndarray) -> str | None:
        """Of ``candidates`` (catalogue words), the one nearest to ``vector``; None when none
        has a vector. Ties go to the earlier candidate."""
        rows = [self.row[w] for w in dict.fromkeys(candidates) if w in self.row]
        if not rows:
            return None
        sims = self.vectors[rows] @ np.asarray(vector, dtype=np.float32)
        return self.words[rows[int(np.argmax(sims))]]
