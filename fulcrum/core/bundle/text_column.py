"""The catalogue's item texts, changed per row without copying the column.

A text change (an ITEM_UPSERT of a known item) used to copy the whole object array of texts
(copy-on-write, so older snapshots keep theirs): O(catalogue) under the GIL per upsert batch.
``TextColumn`` is the base array (shared with older snapshots and the growth buffers,
fulcrum/core/bundle/catalogue_growth.py) plus a persistent map (``immutables.Map``) row -> text
of the rows changed since: a change costs O(log n), an older snapshot keeps its own map. New rows
are written into the base buffer past every older snapshot's length, as before.

It reads like the array it stands for: ``texts[row]``, ``texts[rows]`` (an object array),
``len``, iteration.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import immutables
import numpy as np

_MISSING = object()


class TextColumn:
    __slots__ = ("base", "changed")

    def __init__(self, base: np.ndarray, changed: immutables.Map) -> None:
        self.base = base
        self.changed = changed

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, at):
        if isinstance(at, int | np.integer):
            text = self.changed.get(int(at) % len(self.base), _MISSING)
            return self.base[at] if text is _MISSING else text
        rows = np.arange(len(self.base))[at] if isinstance(at, slice) else np.asarray(at)
        out = self.base[rows]
        for j, row in enumerate(rows.tolist()):
            text = self.changed.get(row % len(self.base), _MISSING)
            if text is not _MISSING:
                out[j] = text
        return out

    def __iter__(self) -> Iterator[str]:
        for row, text in enumerate(self.base):
            yield self.changed.get(row, text)

    def array(self) -> np.ndarray:
        """The texts as an object array (O(n): a copy)."""
        out = self.base.copy()
        for row, text in self.changed.items():
            out[row] = text
        return out


def base_texts(texts: np.ndarray | TextColumn) -> np.ndarray:
    """The base object array (the texts themselves for a plain array)."""
    return texts.base if isinstance(texts, TextColumn) else texts


def with_texts(
    texts: np.ndarray | TextColumn, base: np.ndarray, changes: Mapping[int, str]
) -> np.ndarray | TextColumn:
    """``texts``' changed rows plus ``changes`` over ``base`` (the same rows as ``texts``' base,
    perhaps more: rows appended since); ``base`` itself when nothing was ever changed."""
    changed = texts.changed if isinstance(texts, TextColumn) else immutables.Map()
    if changes:
        mutation = changed.mutate()
        for row, text in changes.items():
            mutation[int(row)] = text
        changed = mutation.finish()
    return TextColumn(base, changed) if len(changed) else base
