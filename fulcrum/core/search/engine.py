"""Search scoring: the one function serving (online/server/search.py) and offline evaluation
(``fulcrum evaluate-search``) both call, so what is measured is what serves.

    query --analyze/correct--> terms --BM25--> lexical scores  \\
          --(corrected text)--> query encoder --cosine--> dense  >-- fuse --> personalise
                                                                            --> order
The query encoder itself (ONNX Runtime) is run by the caller: serving through its micro-batcher,
evaluation through the same graph file. ``SearchSettings`` carry the tuned fusion and the
personalisation weight; the serving config builds them (``online.config``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

from fulcrum.core.blocked_rows import Blocked
from fulcrum.core.search.analyzer import corrected_query, singular, surface_words, word_terms
from fulcrum.core.search.fusion import Fusion, Scores, fuse, personalise
from fulcrum.core.search.lexical_index import LexicalIndex
from fulcrum.core.search.sparse_scores import SparseScores
from fulcrum.core.search.synonyms import WordNeighbours
from fulcrum.core.text import render_query_text


@dataclass(frozen=True)
class SearchSettings:
    fusion: Fusion = field(default_factory=Fusion)
    #: how far a known user's taste may move an item, as a share of the query's score spread
    personalisation: float = 0.05
    #: a query with a word the catalogue's vocabulary lacks (after spelling correction) is
    #: answered by the dense ranking alone: BM25 can only match the other words, and ranking by
    #: them alone promotes the wrong product type ("jewelry box" -> any box)
    dense_only_for_unknown_words: bool = True


@dataclass(frozen=True)
class PreparedQuery:
    terms: list[str]
    corrections: list[str]
    #: what the query encoder sees: the rendered query with spelling corrections applied
    dense_text: str
    #: query words the lexical index cannot match, even after spelling correction
    unknown: list[str] = field(default_factory=list)
    #: per query word (after correction), its index terms: what word coverage counts
    groups: list[list[str]] = field(default_factory=list)
    #: the words the lexical side matches (corrections and stand-ins applied)
    lexical_text: str = ""


def dense_scores(vectors: np.ndarray, query_vec: np.ndarray) -> np.ndarray:
    """[N] cosine of a normalised query vector with every (normalised) row of ``vectors``.

    A BLAS matrix-vector product: the server runs it on one BLAS thread per process
    (``online/server/process_tuning.py``), where it is about twice as fast as NumPy's own
    ``einsum`` loop (3,684 x 384 float32 on the 2-core reference machine under load: 0.25 ms CPU
    vs 0.5-0.7 ms); with OpenBLAS's default threads it would be 7 ms.
    """
    return vectors @ np.asarray(query_vec, dtype=vectors.dtype)


def prepare_query(index: LexicalIndex | None, query: str) -> PreparedQuery:
    if index is None:
        return PreparedQuery([], [], render_query_text(query))
    unknown: list[str] = []
    terms, corrections = index.terms(query, unknown)
    text = corrected_query(render_query_text(query), corrections) if corrections else render_query_text(query)
    groups = [[singular(t) for t in word_terms(w)] for w in dict.fromkeys(surface_words(text))]
    return PreparedQuery(terms, corrections, text, unknown, [g for g in groups if g], text)


def with_stand_ins(
    index: LexicalIndex | None, prepared: PreparedQuery, stand_ins: dict[str, str]
) -> PreparedQuery:
    """``prepared`` with unknown words replaced by catalogue words of the same meaning
    (``fulcrum.core.search.synonyms``) in the lexical query; the dense text stays as it was."""
    if index is None or not stand_ins:
        return prepared
    words = [stand_ins.get(w, w) for w in surface_words(prepared.lexical_text or prepared.dense_text)]
    return _relexed(index, prepared, words, [f"{w}~>{c}" for w, c in stand_ins.items()])


def _relexed(
    index: LexicalIndex, prepared: PreparedQuery, words: list[str], notes: list[str]
) -> PreparedQuery:
    again = prepare_query(index, " ".join(words))
    return PreparedQuery(
        again.terms,
        prepared.corrections + notes,
        prepared.dense_text,
        again.unknown,
        again.groups,
        again.lexical_text,
    )


def with_compound_stand_in(
    index: LexicalIndex | None,
    prepared: PreparedQuery,
    neighbours: WordNeighbours | None,
    query_vec: np.ndarray,
) -> PreparedQuery:
    """``prepared`` with each word the catalogue still lacks that stands before a head word it
    knows (``toiletry bag``) read, together with that head, as the catalogue compound of the
    head nearest to the whole query in the search space (``washbag``;
    ``fulcrum.core.search.compounds``) in the lexical query. Nothing changes when the head has
    no compound in the catalogue. The dense text stays as it was."""
    if index is None or neighbours is None or not prepared.unknown:
        return prepared
    unknown = set(prepared.unknown)
    words = surface_words(prepared.lexical_text or prepared.dense_text)
    out: list[str] = []
    notes = []
    i = 0
    while i < len(words):
        word, head = words[i], words[i + 1] if i + 1 < len(words) else None
        if word in unknown and head is not None and head not in unknown:
            candidates = [c for t in word_terms(head) for c in index.compounds.headed_by(singular(t))]
            pick = neighbours.nearest_of([index.compounds.surface[c] for c in candidates], query_vec)
            if pick is not None:
                out.append(pick)
                notes.append(f"{word} {head}~>{pick}")
                i += 2
                continue
        out.append(word)
        i += 1
    return _relexed(index, prepared, out, notes) if notes else prepared


def rank(
    index: LexicalIndex | None,
    prepared: PreparedQuery,
    dense: Scores,
    settings: SearchSettings,
    blocked: Blocked | None = None,
    user_affinity: np.ndarray | Callable[[np.ndarray], np.ndarray] | None = None,
    dense_pool: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(candidate rows, scores) best first: the fused score, plus the user's taste when given.

    ``dense``: [N] cosine of the query vector with every row's text vector (``SparseScores``
    with an ANN pool: ``Catalogue.search_dense``); ``user_affinity``:
    the cosine of the user's vector with the rows, as [N] values or as a function of the
    candidate rows (serving: only the candidates' vectors are multiplied, not the catalogue's);
    None: anonymous. ``dense_pool``: the rows holding the best dense scores when an ANN index
    chose them (``fusion.fuse``). ``blocked``: a mask or ``BlockedRows``. The lexical scores
    and the word coverage are computed at the matching / candidate rows only (no [N] vector).
    """
    n = len(dense)
    fusion = settings.fusion
    if prepared.unknown and settings.dense_only_for_unknown_words:
        fusion = replace(fusion, lexical_weight=0.0, coverage_weight=0.0)
    lexical = SparseScores.empty(n)
    if index is not None and fusion.lexical_weight > 0:
        lexical = index.sparse_scores(prepared.terms, n)
    coverage: np.ndarray | Callable[[np.ndarray], np.ndarray] | None = None
    if index is not None and fusion.coverage_weight > 0:  # at the fused candidates only
        coverage = partial(index.coverage_at, prepared.groups, idf=fusion.coverage_idf, n_rows=n)
    rows, scores = fuse(lexical, dense, fusion, blocked, coverage, dense_pool)
    if user_affinity is not None and settings.personalisation > 0 and len(rows):
        affinity = user_affinity(rows) if callable(user_affinity) else user_affinity[rows]
        scores = personalise(scores, affinity, settings.personalisation)
        order = np.lexsort((rows, -scores))
        rows, scores = rows[order], scores[order]
    return rows, scores
