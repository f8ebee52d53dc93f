"""Typo tolerance: correct a word the catalogue does not know to a catalogue word one edit away.

``Speller`` holds the catalogue's surface words with their document frequencies and a
symmetric-delete table (every word and each of its one-character deletions -> the words it came
from), so a lookup costs a handful of dictionary probes, not a pass over the vocabulary. A
candidate must be within Damerau-Levenshtein distance 1 of the typed word (one insertion,
deletion, substitution or swap of neighbours); the most frequent candidate wins, ties to the
alphabetically first. Words shorter than ``min_length`` and words with digits are never
corrected (too many short words are one edit apart).

Before that, a word is tried in its other national spelling (:func:`spelling_variants`: the
regular British/American correspondences -or/-our, -er/-re, -ize/-ise, -yze/-yse, -og/-ogue,
-ense/-ence, -eled/-elled, -elry/-ellery), taken when the catalogue has it: ``jewelry`` is
two edits from JEWELLERY and ``catalog`` three from CATALOGUE, but neither is a typo. These
are spelling rules of the language, not a list of product words.
"""

from __future__ import annotations

from collections.abc import Mapping

from fulcrum.core.search.postings import persistent_map

#: (American, British) spellings of a word part; each applies in both directions
_VARIANTS: tuple[tuple[str, str, bool], ...] = (
    # (one, other, only at the word's end)
    ("or", "our", False),  # color, colour; favorite, favourite
    ("er", "re", True),  # center, centre; fiber, fibre
    ("ize", "ise", False),  # organizer, organiser
    ("yze", "yse", False),  # analyze, analyse
    ("og", "ogue", True),  # catalog, catalogue
    ("ense", "ence", True),  # license, licence
    ("eled", "elled", False),  # labeled, labelled
    ("eling", "elling", False),  # traveling, travelling
    ("eler", "eller", False),  # jeweler, jeweller
    ("elry", "ellery", False),  # jewelry, jewellery
)


def spelling_variants(word: str) -> list[str]:
    """The word with one American/British spelling correspondence applied, either way round
    (each occurrence separately), in rule order."""
    out: list[str] = []
    for one, other, at_end in _VARIANTS:
        for a, b in ((one, other), (other, one)):
            if at_end:
                for tail in ("", "s"):  # centre, centres
                    end = a + tail
                    if word.endswith(end) and len(word) > len(end) + 1:
                        out.append(word[: -len(end)] + b + tail)
                continue
            start = word.find(a)
            while start != -1:
                out.append(word[:start] + b + word[start + len(a) :])
                start = word.find(a, start + 1)
    return [v for v in dict.fromkeys(out) if v != word]


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def within_one_edit(a: str, b: str) -> bool:
    """Damerau-Levenshtein distance(a, b) <= 1."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    if la > lb:
        a, b = b, a  # a is the shorter
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1 :]


class Speller:
    """Immutable. ``with_words`` gives the speller of a changed vocabulary in O(the changed
    words' deletions) (persistent maps: the catalogue's upserts never rebuild it), equal to one
    built from scratch over the new frequencies."""

    def __init__(self, frequencies: Mapping[str, int], min_length: int = 4) -> None:
        self.min_length = min_length
        self.frequencies = persistent_map()
        self._table = persistent_map()
        grown = self.with_words({w: int(n) for w, n in frequencies.items()})
        self.frequencies, self._table = grown.frequencies, grown._table

    def _keys(self, word: str) -> set[str]:
        return {word, *_deletes(word)} if len(word) >= self.min_length - 1 else set()

    def with_words(self, counts: Mapping[str, int]) -> Speller:
        """A speller with these words' frequencies set (0 removes a word); non-alphabetic words
        are never candidates and are left out."""
        freq = self.frequencies.mutate()
        table = self._table.mutate()
        for word, n in counts.items():
            if not word.isalpha():
                continue
            known = word in freq
            if n > 0:
                freq[word] = int(n)
                if not known:
                    for key in self._keys(word):
                        table[key] = (*table.get(key, ()), word)
            elif known:
                del freq[word]
                for key in self._keys(word):
                    left = tuple(w for w in table.get(key, ()) if w != word)
                    if left:
                        table[key] = left
                    else:
                        del table[key]
        out = Speller.__new__(Speller)
        out.min_length = self.min_length
        out.frequencies, out._table = freq.finish(), table.finish()
        return out

    def correct(self, word: str) -> str | None:
        """The catalogue word ``word`` most likely means: its other national spelling when the
        catalogue has that, else the most frequent word one edit away; None when ``word`` is
        known, too short, or neither exists."""
        if len(word) < self.min_length or not word.isalpha() or word in self.frequencies:
            return None
        for variant in spelling_variants(word):
            if variant in self.frequencies:
                return variant
        found: set[str] = set()
        for key in {word, *_deletes(word)}:
            found.update(self._table.get(key, ()))
        candidates = [c for c in found if within_one_edit(word, c)]
        if not candidates:
            return None
        return min(candidates, key=lambda c: (-self.frequencies[c], c))
