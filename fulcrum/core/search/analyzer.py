"""Text analysis for the lexical index: one definition for item texts and queries.

An item text or query becomes a list of *terms*:

1. lower case, accents folded (``café`` -> ``cafe``);
2. words are letter/digit runs; a hyphenated or apostrophised word also yields its joined form
   (``t-light`` -> ``t``, ``light``, ``tlight``; ``children's`` -> ``childrens``);
3. a letter/digit boundary inside a word splits it and keeps the joined form too
   (``12pc`` -> ``12``, ``pc``, ``12pc``); numbers lose leading zeros and the number words one to
   twelve become digits (``three`` -> ``3``), so ``set of three`` meets ``SET OF 3``;
4. plural -> singular by a light suffix rule (:func:`singular`), applied to every term.

Queries get more (:func:`query_terms`): adjacent query words also try their joined form and
their one-letter-abbreviated form (``tea light`` -> ``tealight``, ``tlight``; the latter is how
``T-LIGHT`` is indexed), kept only when the index has that term; a word the index does not know
is split into two catalogue words when it is written from them (``washbag`` against WASH BAG,
``fulcrum.core.search.compounds``), else spelling-corrected against the vocabulary
(``fulcrum.core.search.spelling``: one edit, or a British/American spelling variant).
No list of product words or synonyms is involved: everything follows from the catalogue's own
vocabulary.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Container

_WORD = re.compile(r"[^\W_]+(?:['\u2019-][^\W_]+)*")
_PIECE = re.compile(r"[^\W\d_]+|\d+")
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())
}
_KEEP_S = ("ss", "us", "is", "ous")
_ES_STEMS = ("xes", "ches", "shes", "sses", "zes")


def fold(text: str | None) -> str:
    """Lower case with accents removed; None -> ''."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", str(text).lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def singular(term: str) -> str:
    """Light English plural stripping: ``-ies`` -> ``-y``; ``-xes/-ches/-shes/-sses/-zes`` drop
    ``es``; otherwise a final ``s`` goes unless the word ends in ``ss/us/is/ous``; words of three
    letters or fewer and numbers are left alone."""
    if len(term) <= 3 or term.isdigit():
        return term
    if term.endswith("ies") and len(term) > 4:
        return term[:-3] + "y"
    if term.endswith(_ES_STEMS):
        return term[:-2]
    if term.endswith("s") and not term.endswith(_KEEP_S):
        return term[:-1]
    return term


def _number(piece: str) -> str:
    if piece.isdigit():
        return piece.lstrip("0") or "0"
    return _NUMBER_WORDS.get(piece, piece)


def surface_words(text: str | None) -> list[str]:
    """The folded words of a text in order, hyphens and apostrophes kept inside a word."""
    return _WORD.findall(fold(text))


def word_terms(word: str) -> list[str]:
    """Terms of one surface word (before plural stripping): its pieces plus its joined form."""
    parts = [p for p in re.split(r"['\u2019-]", word) if p]
    out: list[str] = []
    joined = "".join(parts)
    for part in parts:
        pieces = _PIECE.findall(part)
        out.extend(_number(p) for p in pieces)
        if len(pieces) > 1:
            out.append(part)
    if len(parts) > 1:
        out.append(joined)
    return out


def analyze(text: str | None) -> list[str]:
    """Index terms of an item text, in order (duplicates kept: BM25 counts term frequency)."""
    return [singular(t) for w in surface_words(text) for t in word_terms(w)]


def query_terms(
    query: str,
    vocabulary: Container[str],
    correct: Callable[[str], str | None] | None = None,
    unknown: list[str] | None = None,
    split: Callable[[str], tuple[str, str] | None] | None = None,
) -> tuple[list[str], list[str]]:
    """(terms, corrected words) of a query against an index whose term set is ``vocabulary``.

    For a word none of whose terms the index knows, ``split(word)`` first gives the two
    catalogue words it is written from (``washbag`` -> wash, bag; or None), then
    ``correct(word)`` the catalogue word a misspelt word most likely means (or None).
    Duplicated terms count once (a shopper repeating a word is not asking for it twice as much).
    Words the index does not know even after that are appended to ``unknown`` when given.
    """
    words = surface_words(query)
    fixed: list[str] = []
    corrections: list[str] = []
    for w in words:
        word_forms = [singular(t) for t in word_terms(w)]
        if not any(t in vocabulary for t in word_forms):
            parts = split(w) if split is not None else None
            better = " ".join(parts) if parts else (correct(w) if correct is not None else None)
            if better is not None:
                corrections.append(f"{w}->{better}")
                fixed.extend(better.split())
                continue
            if unknown is not None:
                unknown.append(w)
        fixed.append(w)
    terms: list[str] = []
    for w in fixed:
        terms.extend(singular(t) for t in word_terms(w))
    for a, b in zip(fixed, fixed[1:], strict=False):
        if "-" in a or "-" in b:
            continue
        for joined in (a + b, a[0] + b):
            term = singular(joined)
            if term in vocabulary:
                terms.append(term)
    unique = list(dict.fromkeys(terms))  # first occurrence of each, in order
    return unique, corrections


def corrected_query(query: str, corrections: list[str]) -> str:
    """The query with each corrected word replaced (what the dense encoder then sees)."""
    out = fold(query)
    for pair in corrections:
        wrong, right = pair.split("->", 1)
        out = re.sub(rf"(?<![^\W_]){re.escape(wrong)}(?![^\W_])", right, out)
    return out
