"""Closed compounds of the catalogue's own vocabulary: ``washbag`` = ``wash`` + ``bag``.

Shops and shoppers write the same product as one word or two (WASHBAG / wash bag, DOORMAT /
door mat, TEAPOT / tea pot). A catalogue term is a *compound* when it is the concatenation of
two catalogue terms of at least ``MIN_PART`` letters each (``teapot`` = ``tea`` + ``pot``;
``bags`` is not one: ``s`` is too short; ``bagel`` is not one: ``el`` is no word). English closed
compounds are right-headed -- a washbag is a bag, a teapot is a pot -- so each compound is filed
under its *head*, the second part.

Search uses the table two ways, at query time and from the catalogue alone:

- *splitting*: a query word the catalogue lacks that is two catalogue words written together
  (``washbag`` against a catalogue saying WASH BAG) is read as those two words
  (:meth:`Compounds.split`); the other direction (``wash bag`` against WASHBAG) is the
  analyzer's joining of adjacent query words;
- *stand-in*: a query word the catalogue lacks even after spelling correction, written before
  a head word the catalogue knows (``toiletry bag``), is read together with the head as the
  catalogue compound of that head nearest to the whole query in the search space
  (``engine.with_compound_stand_in``): the shopper's "X bag" is one of the catalogue's bags, and
  the encoder, which understands the whole phrase better than the unknown word alone, picks
  which.

No word list is involved; the table is rebuilt from the vocabulary whenever the index is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from fulcrum.core.search.analyzer import singular

MIN_PART = 3
#: a query word is split only when at least this long: two three-letter words written together
#: are as often an unrelated word (``carpet`` = car + pet) as a compound
MIN_SPLIT = 7


class Compounds:
    def __init__(self, words: Mapping[str, int] | Iterable[str], min_part: int = MIN_PART) -> None:
        self.min_part = min_part
        surface = [w for w in words if w.isalpha()]
        self.words = set(surface)
        self.terms = {singular(w) for w in surface} | self.words
        #: compound term -> one surface word of it (the catalogue's own spelling)
        self.surface: dict[str, str] = {}
        #: head term -> compound terms headed by it, sorted
        self.by_head: dict[str, list[str]] = {}
        heads: dict[str, set[str]] = {}
        for word in sorted(surface):
            term = singular(word)
            for _, head in self._splits(term):
                heads.setdefault(head, set()).add(term)
                self.surface.setdefault(term, word)
        self.by_head = {h: sorted(c) for h, c in heads.items()}

    def _splits(self, term: str) -> list[tuple[str, str]]:
        """Every (modifier, head) such that ``term`` = modifier + head, both catalogue terms of
        at least ``min_part`` letters (the head by its singular form too)."""
        out = []
        for i in range(self.min_part, len(term) - self.min_part + 1):
            left, right = term[:i], term[i:]
            if left in self.terms and singular(right) in self.terms:
                out.append((left, singular(right)))
        return out

    def headed_by(self, term: str) -> list[str]:
        """Catalogue compounds whose head is ``term`` (a singular term): ``bag`` -> ``washbag``."""
        return self.by_head.get(term, [])

    def split(self, word: str) -> tuple[str, str] | None:
        """The two catalogue words ``word`` is written from, when it is not itself a catalogue
        word and has at least ``MIN_SPLIT`` letters; of several splits the one with the longest
        head (``teapots`` -> tea, pots)."""
        if len(word) < MIN_SPLIT or not word.isalpha() or word in self.words or singular(word) in self.terms:
            return None
        best = None
        for i in range(self.min_part, len(word) - self.min_part + 1):
            left, right = word[:i], word[i:]
            if left in self.terms and (right in self.terms or singular(right) in self.terms):
                if best is None or len(right) > len(best[1]):
                    best = (left, right)
        return best
