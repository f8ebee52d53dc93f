"""The inverted index under Search's BM25: per term, the rows holding it with their term
frequencies, scored at query time from the live catalogue's statistics.

An item upsert changes the index in O(the item's terms): each of its terms' posting arrays is
replaced by one with the item's row added (and, for a changed text, the row's old terms lose
it), in a persistent map (``immutables.Map``, a hash array mapped trie: an update copies
O(log vocabulary) nodes, never the whole vocabulary), so every catalogue snapshot keeps its own
index unchanged while a newer one is built. Nothing is precomputed from collection statistics:
the number of documents ``N``, their total length and each term's document frequency are read
when a query is scored, so an index grown by any sequence of upserts scores exactly as one built
from scratch over the same texts (same postings, same statistics, same arithmetic).

Scoring (Lucene's BM25, as bm25s's ``method="lucene"``): for a query term with document
frequency ``df``, ``idf = ln(1 + (N - df + 0.5) / (df + 0.5))`` and a row holding it ``tf``
times with ``dl`` terms in all scores ``idf * tf / (tf + k1 (1 - b + b dl / avgdl))``;
``avgdl`` = total terms / ``N``. A query costs O(the postings of its terms), in NumPy.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

K1 = 1.2
B = 0.75


def persistent_map(items=()):
    """An empty (or filled) ``immutables.Map``, the persistent map every incremental part uses."""
    return _immutables().Map(items)


def _immutables():
    try:
        import immutables
    except ImportError as e:  # pragma: no cover - a core dependency
        raise ImportError("the lexical index needs immutables: pip install 'immutables>=0.20,<1'") from e
    return immutables


#: one term's postings: rows (sorted, int64), term frequencies and the rows' lengths (int32)
Entry = tuple[np.ndarray, np.ndarray, np.ndarray]


class Postings:
    """Immutable; ``with_docs`` returns a new one sharing everything it did not change."""

    def __init__(self, terms: Mapping[str, Entry], n_docs: int, total_len: int) -> None:
        self.terms = terms
        self.n_docs = int(n_docs)
        self.total_len = int(total_len)

    @classmethod
    def build(cls, docs: Sequence[Sequence[str]]) -> Postings:
        """From analysed texts (row i = ``docs[i]``, duplicates counted)."""
        by_term: dict[str, tuple[list[int], list[int], list[int]]] = {}
        total = 0
        for row, doc in enumerate(docs):
            dl = len(doc)
            total += dl
            for term, tf in Counter(doc).items():
                rows, tfs, dls = by_term.setdefault(term, ([], [], []))
                rows.append(row)
                tfs.append(tf)
                dls.append(dl)
        terms = {
            t: (np.array(r, dtype=np.int64), np.array(f, dtype=np.int32), np.array(d, dtype=np.int32))
            for t, (r, f, d) in by_term.items()
        }
        return cls(persistent_map(terms), len(docs), total)

    @classmethod
    def from_arrays(
        cls, vocab: Sequence[str], indptr: np.ndarray, rows: np.ndarray, tf: np.ndarray, doc_len: np.ndarray
    ) -> Postings:
        """From the CSR form ``save`` writes (term i's postings at ``indptr[i]:indptr[i+1]``)."""
        doc_len = np.asarray(doc_len, dtype=np.int32)
        rows = np.asarray(rows, dtype=np.int64)
        dls = doc_len[rows]
        terms = {
            t: (rows[a:b], np.asarray(tf[a:b], dtype=np.int32), dls[a:b])
            for t, a, b in zip(vocab, indptr[:-1].tolist(), indptr[1:].tolist(), strict=True)
        }
        return cls(persistent_map(terms), len(doc_len), int(doc_len.sum()))

    def arrays(self) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(vocabulary sorted, indptr, rows, tf, doc lengths [n_docs]): the CSR form to save."""
        vocab = sorted(self.terms.keys())
        entries = [self.terms[t] for t in vocab]
        sizes = np.array([len(e[0]) for e in entries], dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        empty = np.zeros(0, dtype=np.int64)
        rows = np.concatenate([e[0] for e in entries]) if entries else empty
        tf = np.concatenate([e[1] for e in entries]).astype(np.int32) if entries else empty.astype(np.int32)
        doc_len = np.zeros(self.n_docs, dtype=np.int32)
        for r, _, d in entries:
            doc_len[r] = d
        return vocab, indptr, rows, tf, doc_len

    # ---- updates -----------------------------------------------------------------------------
    def with_docs(
        self, changes: Iterable[tuple[int, Sequence[str] | None, Sequence[str]]], n_docs: int
    ) -> Postings:
        """A new index where each (row, old terms or None for a new row, new terms) holds its new
        terms, over ``n_docs`` rows in all (rows past the old count without a change are empty
        documents). Costs O(the changed rows' terms) plus one copy of each touched term's
        postings."""
        removed: dict[str, set[int]] = {}
        added: dict[str, list[tuple[int, int, int]]] = {}
        total = self.total_len
        for row, old, new in changes:
            if old is not None:
                total -= len(old)
                for term in set(old):
                    removed.setdefault(term, set()).add(row)
            total += len(new)
            for term, tf in Counter(new).items():
                added.setdefault(term, []).append((row, tf, len(new)))
        mutation = self.terms.mutate()  # type: ignore[attr-defined]
        for term in removed.keys() | added.keys():
            entry = self.terms.get(term)
            rows, tfs, dls = entry if entry is not None else (_EMPTY_ROWS, _EMPTY_I32, _EMPTY_I32)
            gone = removed.get(term)
            if gone and len(rows):  # rows are sorted: a binary search per removed row
                wanted = np.fromiter(gone, dtype=np.int64, count=len(gone))
                at = np.minimum(np.searchsorted(rows, wanted), len(rows) - 1)
                keep = np.ones(len(rows), dtype=bool)
                keep[at[rows[at] == wanted]] = False
                rows, tfs, dls = rows[keep], tfs[keep], dls[keep]
            more = added.get(term)
            if more:
                r, f, d = (np.array(x) for x in zip(*more, strict=True))
                rows = np.concatenate([rows, r.astype(np.int64)])
                tfs = np.concatenate([tfs, f.astype(np.int32)])
                dls = np.concatenate([dls, d.astype(np.int32)])
                if len(rows) > 1 and not np.all(rows[1:] > rows[:-1]):  # a re-indexed older row
                    order = np.argsort(rows, kind="stable")
                    rows, tfs, dls = rows[order], tfs[order], dls[order]
            if len(rows):
                mutation[term] = (rows, tfs, dls)
            elif term in mutation:
                del mutation[term]
        return Postings(mutation.finish(), max(n_docs, self.n_docs), total)

    # ---- querying ----------------------------------------------------------------------------
    def __contains__(self, term: object) -> bool:
        return term in self.terms

    def __len__(self) -> int:
        return len(self.terms)

    def rows(self, term: str) -> np.ndarray:
        """The sorted rows holding ``term`` (empty when none)."""
        entry = self.terms.get(term)
        return _EMPTY_ROWS if entry is None else entry[0]

    def _term_scores(self, terms: Sequence[str], n_rows: int, k1: float, b: float):
        """(rows, BM25 term score at those rows) of each known term in order, rows below
        ``n_rows`` only: the one computation ``bm25`` and ``bm25_rows`` both sum."""
        n = self.n_docs
        avgdl = max(self.total_len / max(n, 1), 1e-9)
        for term in terms:
            entry = self.terms.get(term)
            if entry is None:
                continue
            rows, tf, dl = entry
            df = len(rows)
            idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
            cut = int(np.searchsorted(rows, n_rows))
            tf_ = tf[:cut].astype(np.float64)
            yield rows[:cut], idf * tf_ / (tf_ + k1 * (1.0 - b + b * dl[:cut] / avgdl))

    def bm25_rows(
        self, terms: Sequence[str], n_rows: int, k1: float = K1, b: float = B
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rows sorted, their BM25 score) of the rows below ``n_rows`` holding any of the terms:
        ``bm25`` at those rows, the same floats (each row's term scores summed in term order,
        from 0), in O(the terms' postings) instead of O(n_rows)."""
        parts = list(self._term_scores(terms, n_rows, k1, b))
        if not parts:
            return _EMPTY_ROWS, np.zeros(0, dtype=np.float64)
        every, inverse = np.unique(np.concatenate([r for r, _ in parts]), return_inverse=True)
        # bincount adds each input in order: a row's term scores summed in term order, as bm25's +=
        sums = np.bincount(inverse, weights=np.concatenate([v for _, v in parts]), minlength=len(every))
        return every.astype(np.int64), sums

    def bm25(self, terms: Sequence[str], n_rows: int, k1: float = K1, b: float = B) -> np.ndarray:
        """[n_rows] BM25 score of every row for these query terms (0 = no match)."""
        out = np.zeros(n_rows, dtype=np.float64)
        for rows, values in self._term_scores(terms, n_rows, k1, b):
            out[rows] += values
        return out


_EMPTY_ROWS = np.zeros(0, dtype=np.int64)
_EMPTY_I32 = np.zeros(0, dtype=np.int32)
