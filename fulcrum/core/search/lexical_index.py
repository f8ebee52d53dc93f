"""The lexical (BM25) index of a catalogue: an inverted index over analysed item texts
(``fulcrum.core.search.postings``), the speller's word counts and the compound table.

Why our own postings (the bundles of earlier versions shipped bm25s's files): bm25s stores each
(term, row) pair's BM25 score computed from the collection statistics at build time, so a
catalogue that changes while serving needed an append segment scored apart and a full rebuild
(O(catalogue), on the upsert's thread) whenever the segment grew. The postings keep term
frequencies and score from the live statistics, so an upsert is O(its terms) and the index
after any sequence of upserts answers exactly as one rebuilt from the same texts. Search still
gets the score of every row as one NumPy array, and the text analysis stays ours
(``fulcrum.core.search.analyzer``), identical at export, in serving and in evaluation.

Immutable: ``with_docs`` returns a new index sharing what it did not change (persistent maps),
so a request keeps the index of the catalogue snapshot it took.

Bundle files (folder ``lexical_index/``): ``vocab.json`` (terms, sorted), ``indptr.npy``,
``rows.npy``, ``tf.npy`` (term i's postings at ``indptr[i]:indptr[i+1]``), ``doc_lengths.npy``,
``words.json`` (surface word -> number of items: the speller's vocabulary) and ``lexical.json``
(format, parameters, row count). A folder of the bm25s format is read by rebuilding the index
from the item texts (the caller warns: re-export to ship the postings).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from fulcrum.core.search.analyzer import analyze, query_terms, surface_words
from fulcrum.core.search.compounds import Compounds
from fulcrum.core.search.postings import K1, B, Postings, persistent_map
from fulcrum.core.search.sparse_scores import SparseScores
from fulcrum.core.search.spelling import Speller

FOLDER = "lexical_index"
META = "lexical.json"
WORDS = "words.json"
VOCAB = "vocab.json"
FORMAT = "fulcrum-postings-1"


def _word_set(text: str) -> set[str]:
    return {w for w in surface_words(text) if w.isalpha()}


def _word_counts(texts: Sequence[str]) -> Counter:
    counts: Counter = Counter()
    for text in texts:
        counts.update(_word_set(text))
    return counts


class LegacyIndexFolder(ValueError):
    """A ``lexical_index/`` folder in the bm25s format of earlier bundles."""


class LexicalIndex:
    """BM25 over ``n_docs`` rows (row i = catalogue row i). Immutable: updates return a new index."""

    def __init__(
        self,
        postings: Postings,
        words: Mapping[str, int],
        speller: Speller | None = None,
        compounds: Compounds | None = None,
    ) -> None:
        self.postings = postings
        #: surface word -> number of items whose text has it (alphabetic words only)
        self.words = words
        self._speller = speller
        self._compounds = compounds

    @property
    def n_docs(self) -> int:
        return self.postings.n_docs

    @property
    def vocab(self) -> Mapping[str, object]:
        """The index terms (term -> postings)."""
        return self.postings.terms

    # ---- building ----------------------------------------------------------------------------
    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        return cls(Postings.build([analyze(t) for t in texts]), persistent_map(_word_counts(texts)))

    def save(self, folder: Path) -> None:
        """Write the index (CSR postings, word counts, parameters)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        vocab, indptr, rows, tf, doc_len = self.postings.arrays()
        (folder / VOCAB).write_text(json.dumps(vocab))
        np.save(folder / "indptr.npy", indptr)
        np.save(folder / "rows.npy", rows.astype(np.int32 if self.n_docs < 2**31 else np.int64))
        np.save(folder / "tf.npy", tf)
        np.save(folder / "doc_lengths.npy", doc_len)
        (folder / WORDS).write_text(json.dumps(dict(sorted(self.words.items()))))
        (folder / META).write_text(
            json.dumps({"format": FORMAT, "k1": K1, "b": B, "method": "lucene", "rows": self.n_docs})
        )

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        """The saved index; ``LegacyIndexFolder`` for a bm25s-format folder (rebuild from texts)."""
        folder = Path(folder)
        meta = json.loads((folder / META).read_text())
        if meta.get("format") != FORMAT:
            raise LegacyIndexFolder(
                f"{folder}: lexical index format {meta.get('format') or meta.get('library')!r}, "
                f"not {FORMAT!r}"
            )
        vocab = json.loads((folder / VOCAB).read_text())
        indptr, rows, tf, doc_len = (
            np.load(folder / f, allow_pickle=False)
            for f in ("indptr.npy", "rows.npy", "tf.npy", "doc_lengths.npy")
        )
        if len(doc_len) != meta["rows"] or len(indptr) != len(vocab) + 1:
            raise ValueError(f"{folder}: index rows or terms disagree ({meta['rows']}, {len(doc_len)})")
        words = persistent_map(json.loads((folder / WORDS).read_text()))
        return cls(Postings.from_arrays(vocab, indptr, rows, tf, doc_len), words)

    # ---- updates -----------------------------------------------------------------------------
    def with_docs(
        self,
        rows: Sequence[int],
        texts: Sequence[str],
        old_texts: Sequence[str | None],
        n_docs: int,
    ) -> LexicalIndex:
        """A new index with ``rows`` (catalogue rows) holding ``texts``; ``old_texts`` are the
        texts they had (None: a new row), ``n_docs`` the new catalogue's row count. O(the
        changed rows' words): postings, word counts and speller are updated, not rebuilt; equal
        to ``build`` over the new catalogue's texts. The last text given for a row wins."""
        latest: dict[int, tuple[str | None, str]] = {}
        for row, text, old in zip(rows, texts, old_texts, strict=True):
            first_old = latest[int(row)][0] if int(row) in latest else old
            latest[int(row)] = (first_old, str(text))
        changes = [(row, old, new) for row, (old, new) in latest.items() if old != new]
        if not changes and n_docs <= self.n_docs:
            return self
        postings = self.postings.with_docs(
            [(row, None if old is None else analyze(old), analyze(new)) for row, old, new in changes], n_docs
        )
        delta: Counter = Counter()
        for _, old, new in changes:
            delta.update(_word_set(new))
            if old is not None:
                delta.subtract(_word_set(old))
        counts = {w: self.words.get(w, 0) + d for w, d in delta.items() if d}
        words = self.words.mutate()  # type: ignore[attr-defined]
        for w, n in counts.items():
            if n > 0:
                words[w] = n
            elif w in words:
                del words[w]
        speller = self._speller.with_words(counts) if self._speller is not None else None
        compounds = self._compounds
        if compounds is not None:
            appeared = [w for w, n in counts.items() if n > 0 and w not in self.words]
            vanished = [w for w, n in counts.items() if n <= 0]
            compounds = compounds.with_words(appeared, vanished)
        return LexicalIndex(postings, words.finish(), speller, compounds)

    # ---- querying ----------------------------------------------------------------------------
    @property
    def speller(self) -> Speller:
        if self._speller is None:
            self._speller = Speller(self.words)
        return self._speller

    def warm(self) -> LexicalIndex:
        """Build the speller and the compound table now (not in the first query); self."""
        self.speller  # noqa: B018
        self.compounds  # noqa: B018
        return self

    @property
    def compounds(self) -> Compounds:
        if self._compounds is None:
            self._compounds = Compounds(self.words)
        return self._compounds

    def __contains__(self, term: object) -> bool:
        return term in self.postings

    def terms(self, query: str, unknown: list[str] | None = None) -> tuple[list[str], list[str]]:
        """(query terms, spelling corrections) of a query against this index; words it cannot
        match even after correction are appended to ``unknown`` when given."""
        return query_terms(query, self, self.speller.correct, unknown, self.compounds.split)

    def scores(self, terms: Sequence[str], n_rows: int) -> np.ndarray:
        """[n_rows] BM25 score of every catalogue row for these query terms (0 = no match)."""
        return self.postings.bm25(terms, n_rows)

    def sparse_scores(self, terms: Sequence[str], n_rows: int) -> SparseScores:
        """``scores`` as the matching rows and their BM25 score (O(the terms' postings))."""
        rows, values = self.postings.bm25_rows(terms, n_rows)
        return SparseScores(rows, values, int(n_rows))

    def coverage(self, groups: Sequence[Sequence[str]], n_rows: int, idf: bool = False) -> np.ndarray:
        """[n_rows] share of the word groups (one per query word: its terms) each row contains.
        ``idf``: each group weighs ``ln(1 + (N - n + 0.5) / (n + 0.5))`` for the ``n`` of the
        ``N`` rows that contain it (BM25's idf), so words few items have count more than common
        ones."""
        out = np.zeros(n_rows, dtype=np.float64)
        if not groups:
            return out
        total = 0.0
        for terms in groups:
            hit = np.zeros(n_rows, dtype=bool)
            for term in terms:
                rows = self.postings.rows(term)
                hit[rows[: int(np.searchsorted(rows, n_rows))]] = True
            weight = 1.0
            if idf:
                n = int(hit.sum())
                weight = math.log(1.0 + (n_rows - n + 0.5) / (n + 0.5))
            out += weight * hit
            total += weight
        return out / total if total > 0 else out

    def coverage_at(
        self, groups: Sequence[Sequence[str]], rows: np.ndarray, idf: bool = False, n_rows: int | None = None
    ) -> np.ndarray:
        """``coverage(groups, n_rows, idf)[rows]`` without an [n_rows] vector per word: a binary
        search of each term's (sorted) postings; with ``idf`` each group's row count is the size
        of the union of its terms' postings below ``n_rows``. O(rows x terms x log postings +
        postings): what Search uses (the candidates only). The same floats as ``coverage``."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros(len(rows), dtype=np.float64)
        if not groups or len(rows) == 0:
            return out
        if idf and n_rows is None:
            raise ValueError("coverage_at with idf needs n_rows")
        limit = int(n_rows) if n_rows is not None else 0
        total = 0.0
        for terms in groups:
            hit = np.zeros(len(rows), dtype=bool)
            held = []
            for term in terms:
                post = self.postings.rows(term)
                if len(post):
                    at = np.minimum(np.searchsorted(post, rows), len(post) - 1)
                    hit |= post[at] == rows
                    if idf:
                        held.append(post[: int(np.searchsorted(post, limit))])
            weight = 1.0
            if idf:
                n = len(np.unique(np.concatenate(held))) if held else 0
                weight = math.log(1.0 + (limit - n + 0.5) / (n + 0.5))
            out += weight * hit
            total += weight
        return out / total if total > 0 else out
