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

No word list is involved; the table is made from the vocabulary alone. It is immutable and
kept current by ``with_words`` in O(the changed words' lengths and the compounds they touch):
persistent maps index every candidate term by each prefix and (singular) suffix it could be
split into, so a word that appears or vanishes re-examines only the terms it could be part of.
A table grown by any sequence of changes equals one made from the final vocabulary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from fulcrum.core.search.analyzer import singular
from fulcrum.core.search.postings import persistent_map

MIN_PART = 3
#: a query word is split only when at least this long: two three-letter words written together
#: are as often an unrelated word (``carpet`` = car + pet) as a compound
MIN_SPLIT = 7


def _add(m, key, value) -> None:
    m[key] = (*m.get(key, ()), value)


def _drop(m, key, value) -> None:
    left = tuple(v for v in m.get(key, ()) if v != value)
    if left:
        m[key] = left
    elif key in m:
        del m[key]


class Compounds:
    def __init__(self, words: Mapping[str, int] | Iterable[str], min_part: int = MIN_PART) -> None:
        self.min_part = min_part
        empty = persistent_map()
        #: surface words; index keys (words and their singulars) -> how many words give them
        self.words, self._members = empty, empty
        #: candidate term (the singular of a word) -> its surface words, sorted
        self._candidates = empty
        #: prefix / singular suffix -> candidate terms that could split there
        self._prefix, self._suffix = empty, empty
        #: compound term -> its heads; head term -> compound terms headed by it, sorted
        self._heads, self.by_head = empty, empty
        #: compound term -> one surface word of it (the catalogue's own spelling: the first)
        self.surface = empty
        grown = self.with_words([w for w in words if w.isalpha()], [])
        self.__dict__.update(grown.__dict__)

    @property
    def terms(self) -> Mapping[str, int]:
        """The catalogue's terms: every word and its singular."""
        return self._members

    def _split_points(self, term: str):
        return range(self.min_part, len(term) - self.min_part + 1)

    def with_words(self, appeared: Iterable[str], vanished: Iterable[str]) -> Compounds:
        """The table after these surface words appeared in / vanished from the vocabulary."""
        words, members = self.words.mutate(), self._members.mutate()
        cands, prefix, suffix = self._candidates.mutate(), self._prefix.mutate(), self._suffix.mutate()
        flipped: set[str] = set()
        touched: set[str] = set()
        for word, step in [*((w, -1) for w in vanished), *((w, 1) for w in appeared)]:
            if not word.isalpha() or (word in words) == (step > 0):
                continue
            if step > 0:
                words[word] = 1
            else:
                del words[word]
            term = singular(word)
            for key in {word, term}:
                n = members.get(key, 0) + step
                if n > 0:
                    members[key] = n
                else:
                    del members[key]
                if (n > 0) != (n - step > 0):
                    flipped.add(key)
            was = cands.get(term, ())
            now = tuple(sorted({*was, word})) if step > 0 else tuple(w for w in was if w != word)
            if now:
                cands[term] = now
            else:
                del cands[term]
            if bool(was) != bool(now):  # the term became, or stopped being, a candidate
                for i in self._split_points(term):
                    (_add if now else _drop)(prefix, term[:i], term)
                    (_add if now else _drop)(suffix, singular(term[i:]), term)
            touched.add(term)
        for key in flipped:
            touched.update(prefix.get(key, ()))
            touched.update(suffix.get(key, ()))
        heads, by_head, surface = self._heads.mutate(), self.by_head.mutate(), self.surface.mutate()
        for term in touched:
            new: tuple[str, ...] = ()
            if term in cands:
                new = tuple(sorted({singular(term[i:]) for i in self._split_points(term)
                                    if term[:i] in members and singular(term[i:]) in members}))
            old = heads.get(term, ())
            for head in set(old) - set(new):
                _drop(by_head, head, term)
            for head in set(new) - set(old):
                by_head[head] = tuple(sorted({*by_head.get(head, ()), term}))
            if new:
                heads[term] = new
                surface[term] = cands[term][0]
            else:
                if term in heads:
                    del heads[term]
                if term in surface:
                    del surface[term]
        out = Compounds.__new__(Compounds)
        out.min_part = self.min_part
        out.words, out._members, out._candidates = words.finish(), members.finish(), cands.finish()
        out._prefix, out._suffix = prefix.finish(), suffix.finish()
        out._heads, out.by_head, out.surface = heads.finish(), by_head.finish(), surface.finish()
        return out

    def headed_by(self, term: str) -> list[str]:
        """Catalogue compounds whose head is ``term`` (a singular term): ``bag`` -> ``washbag``."""
        return list(self.by_head.get(term, ()))

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
