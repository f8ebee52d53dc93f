"""The lexical (BM25) index of a catalogue: bm25s over analysed item texts, plus an append
segment for items added or changed since the index was built.

Why bm25s (not tantivy): Search fuses lexical and dense scores over catalogue *rows*, and bm25s
returns the BM25 score of every row as one NumPy array (a sparse-matrix column sum), which lines
up with the dense scores without a per-hit stored-field lookup; its files are plain ``.npy`` /
JSON that the manifest hashes like every other bundle file; it needs only NumPy in the
serving image; and the text analysis stays ours (``fulcrum.core.search.analyzer``), identical at
export, in serving and in evaluation. tantivy's strengths (on-disk segments, merges, deletes) are
not needed for a catalogue that fits in memory next to its embedding matrix.

Incremental updates: ``with_docs`` adds or replaces rows in an append *segment* scored with the
same BM25 formula (Lucene idf ``ln(1 + (N - df + 0.5) / (df + 0.5))``, term part
``tf / (tf + k1 (1 - b + b dl / avgdl))``) on statistics of the whole live catalogue (main plus
segment), while main rows keep their precomputed scores; a replaced main row is masked. When the
segment outgrows ``max(REBUILD_MIN, REBUILD_SHARE x main)`` rows, ``with_docs`` rebuilds the
whole index from all texts (the caller runs it off the event loop: catalogue upserts do).

Bundle files (folder ``lexical_index/``): bm25s's own files plus ``words.json`` (surface word
-> number of items: the speller's vocabulary) and ``lexical.json`` (parameters, row count).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fulcrum.core.search.analyzer import analyze, query_terms, surface_words
from fulcrum.core.search.compounds import Compounds
from fulcrum.core.search.spelling import Speller

FOLDER = "lexical_index"
META = "lexical.json"
WORDS = "words.json"
K1 = 1.2
B = 0.75
REBUILD_MIN = 256
REBUILD_SHARE = 0.05


def _bm25s():
    try:
        import bm25s
    except ImportError as e:  # pragma: no cover - the serve extra installs it
        raise ImportError("the lexical index needs bm25s: pip install 'bm25s>=0.3.16,<0.4'") from e
    return bm25s


def _word_counts(texts: Sequence[str]) -> Counter:
    counts: Counter = Counter()
    for text in texts:
        counts.update({w for w in surface_words(text) if w.isalpha()})
    return counts


class LexicalIndex:
    """BM25 over ``n`` rows (row i = catalogue row i). Immutable: updates return a new index."""

    def __init__(
        self,
        model,
        n_main: int,
        doc_len: np.ndarray,
        words: Counter,
        segment: dict[int, Counter] | None = None,
    ) -> None:
        self.model = model
        self.n_main = int(n_main)
        self.doc_len = np.asarray(doc_len, dtype=np.float64)  # main rows' term counts
        self.words = words
        self.segment = segment or {}
        self.vocab: dict[str, int] = model.vocab_dict
        indptr = np.asarray(model.scores["indptr"])
        self._df_main = np.diff(indptr)
        self._speller: Speller | None = None
        self._compounds: Compounds | None = None
        stale = np.zeros(self.n_main, dtype=bool)
        stale[[r for r in self.segment if r < self.n_main]] = True
        self._stale = stale if stale.any() else None
        self._seg_post: dict[str, list[tuple[int, int]]] = {}
        for row, counts in self.segment.items():
            for term, tf in counts.items():
                self._seg_post.setdefault(term, []).append((row, tf))
        self._seg_len = {row: sum(c.values()) for row, c in self.segment.items()}

    # ---- building ----------------------------------------------------------------------------
    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        bm25s = _bm25s()
        corpus = [analyze(t) for t in texts]
        model = bm25s.BM25(k1=K1, b=B, method="lucene")
        # an empty text still needs a row: bm25s maps it to its reserved empty token
        model.index(corpus, show_progress=False)
        return cls(model, len(texts), np.array([len(c) for c in corpus]), _word_counts(texts))

    def save(self, folder: Path) -> None:
        """Write the main index (the segment is serving state, never saved)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save(str(folder), show_progress=False)
        np.save(folder / "doc_lengths.npy", self.doc_len.astype(np.int32))
        (folder / WORDS).write_text(json.dumps(dict(sorted(self.words.items()))))
        (folder / META).write_text(
            json.dumps({"library": "bm25s", "k1": K1, "b": B, "method": "lucene", "rows": self.n_main})
        )

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        bm25s = _bm25s()
        folder = Path(folder)
        meta = json.loads((folder / META).read_text())
        model = bm25s.BM25.load(str(folder), show_progress=False)
        doc_len = np.load(folder / "doc_lengths.npy", allow_pickle=False)
        words = Counter(json.loads((folder / WORDS).read_text()))
        if len(doc_len) != meta["rows"] or model.scores["num_docs"] != meta["rows"]:
            raise ValueError(f"{folder}: lexical index rows disagree ({meta['rows']}, {len(doc_len)})")
        return cls(model, meta["rows"], doc_len, words)

    # ---- updates -----------------------------------------------------------------------------
    def with_docs(self, rows: Sequence[int], texts: Sequence[str], all_texts: Sequence[str]) -> LexicalIndex:
        """A new index with ``rows`` (catalogue rows, new or existing) holding ``texts``;
        ``all_texts`` is the whole new catalogue's texts, used when the segment is due a rebuild."""
        segment = dict(self.segment)
        for row, text in zip(rows, texts, strict=True):
            segment[int(row)] = Counter(analyze(text))
        if len(segment) > max(REBUILD_MIN, REBUILD_SHARE * self.n_main):
            rebuilt = LexicalIndex.build(all_texts)
            return rebuilt.warm()
        words = self.words.copy()
        words.update(_word_counts(texts))
        grown = LexicalIndex(self.model, self.n_main, self.doc_len, words, segment)
        return grown.warm()  # built in the upsert thread, not by the next query

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
        return term in self.vocab or term in self._seg_post

    def terms(self, query: str, unknown: list[str] | None = None) -> tuple[list[str], list[str]]:
        """(query terms, spelling corrections) of a query against this index; words it cannot
        match even after correction are appended to ``unknown`` when given."""
        return query_terms(query, self, self.speller.correct, unknown, self.compounds.split)

    def scores(self, terms: Sequence[str], n_rows: int) -> np.ndarray:
        """[n_rows] BM25 score of every catalogue row for these query terms (0 = no match)."""
        out = np.zeros(n_rows, dtype=np.float64)
        ids = [self.vocab[t] for t in terms if t in self.vocab]
        if ids:
            main = self.model.get_scores_from_ids(ids)
            out[: self.n_main] = main[: min(self.n_main, n_rows)]
            if self._stale is not None:
                out[: self.n_main][self._stale] = 0.0
        if self.segment:
            self._score_segment(terms, out)
        return out

    def coverage(self, groups: Sequence[Sequence[str]], n_rows: int, idf: bool = False) -> np.ndarray:
        """[n_rows] share of the word groups (one per query word: its terms) each row contains;
        a replaced row counts by its new text only. ``idf``: each group weighs
        ``ln(1 + (N - n + 0.5) / (n + 0.5))`` for the ``n`` of the ``N`` rows that contain it
        (BM25's idf), so words few items have count more than common ones."""
        out = np.zeros(n_rows, dtype=np.float64)
        if not groups:
            return out
        indptr, indices = self.model.scores["indptr"], self.model.scores["indices"]
        stale = np.flatnonzero(self._stale) if self._stale is not None else None
        total = 0.0
        for terms in groups:
            hit = np.zeros(n_rows, dtype=bool)
            for term in terms:
                tid = self.vocab.get(term)
                if tid is not None:
                    rows = indices[indptr[tid] : indptr[tid + 1]]
                    hit[rows[rows < n_rows]] = True
            if stale is not None:
                hit[stale[stale < n_rows]] = False
            for term in terms:
                for row, _ in self._seg_post.get(term, ()):
                    if row < n_rows:
                        hit[row] = True
            weight = 1.0
            if idf:
                n = int(hit.sum())
                weight = math.log(1.0 + (n_rows - n + 0.5) / (n + 0.5))
            out += weight * hit
            total += weight
        return out / total if total > 0 else out

    def coverage_at(self, groups: Sequence[Sequence[str]], rows: np.ndarray) -> np.ndarray:
        """``coverage(groups, n)[rows]`` (no idf) without an [n] vector per word: a binary search
        of each term's postings (bm25s keeps each term's rows in increasing order; checked once
        per index, ``coverage`` otherwise). O(rows x terms x log postings): what Search uses
        when an ANN pool chose the candidates of a big catalogue."""
        rows = np.asarray(rows, dtype=np.int64)
        if not groups or len(rows) == 0:
            return np.zeros(len(rows), dtype=np.float64)
        if not self._postings_sorted:
            return self.coverage(groups, int(rows.max()) + 1)[rows]
        indptr, indices = self.model.scores["indptr"], self.model.scores["indices"]
        main = rows < self.n_main
        out = np.zeros(len(rows), dtype=np.float64)
        for terms in groups:
            hit = np.zeros(len(rows), dtype=bool)
            for term in terms:
                tid = self.vocab.get(term)
                if tid is not None:
                    post = indices[indptr[tid] : indptr[tid + 1]]
                    if len(post):
                        at = np.minimum(np.searchsorted(post, rows), len(post) - 1)
                        hit |= post[at] == rows
            if self._stale is not None:
                hit[main] &= ~self._stale[rows[main]]
            for term in terms:
                seg = [row for row, _ in self._seg_post.get(term, ())]
                if seg:
                    hit |= np.isin(rows, seg)
            out += hit
        return out / len(groups)

    @property
    def _postings_sorted(self) -> bool:
        cached = getattr(self, "_sorted_cache", None)
        if cached is None:
            indptr = np.asarray(self.model.scores["indptr"], dtype=np.int64)
            indices = np.asarray(self.model.scores["indices"], dtype=np.int64)
            up = np.diff(indices) > 0
            starts = indptr[1:-1]
            up[starts[(starts > 0) & (starts <= len(up))] - 1] = True  # a new term may start lower
            cached = bool(up.all())
            self._sorted_cache = cached
        return cached

    def _score_segment(self, terms: Sequence[str], out: np.ndarray) -> None:
        live_main = self.n_main - (0 if self._stale is None else int(self._stale.sum()))
        n = live_main + len(self.segment)
        seg_len = sum(self._seg_len.values())
        main_len = float(self.doc_len.sum()) - (
            0.0 if self._stale is None else float(self.doc_len[self._stale].sum())
        )
        avgdl = max((main_len + seg_len) / max(n, 1), 1e-9)
        for term in terms:
            postings = self._seg_post.get(term)
            if not postings:
                continue
            df = len(postings) + (int(self._df_main[self.vocab[term]]) if term in self.vocab else 0)
            idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
            for row, tf in postings:
                if row < len(out):
                    dl = self._seg_len[row]
                    out[row] += idf * tf / (tf + K1 * (1 - B + B * dl / avgdl))
