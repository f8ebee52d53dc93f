"""The rows a request may not return, as a small sorted index array instead of a catalogue mask.

A request blocks a handful of rows (its excludes and session items, the user's bought,
cancelled, disliked and ignored items): tens to a few thousand of a catalogue that may hold a
million. A boolean mask over the catalogue costs O(catalogue) to build per request; what the
retrieval paths ask of it is only "which of these candidate rows are blocked" (a candidate pool,
a prefix of a popularity order, an index search's answer) and, on the exact paths that score
every row anyway, the mask itself. ``BlockedRows`` holds the sorted unique rows and answers the
first question in O(candidates x log blocked), by the same indexing a mask takes
(``blocked[rows]`` -> bool per row), so code written for a mask reads it unchanged.

A filter that is a predicate over the catalogue (Search's price range) is a mask by nature:
``BlockedRows.of_mask`` wraps one (its rows are then computed once, O(catalogue)).

Below ``MASK_BELOW`` rows a mask costs less than the binary searches (a memset of a few KB),
so ``BlockedRows.of`` also keeps one there; the answers are the same either way.
"""

from __future__ import annotations

import numpy as np

_EMPTY = np.zeros(0, dtype=np.int64)
#: catalogues smaller than this also get a mask (cheaper than binary searches at that size)
MASK_BELOW = 1 << 16


class BlockedRows:
    """``rows``: sorted, unique, in [0, n); ``n``: the catalogue's row count; ``mask``: the same
    rows as a bool [n] mask, when one was made (small catalogues, ``of_mask``). Read-only by
    convention (a plain class: built once per request, where a frozen dataclass's set-up shows)."""

    __slots__ = ("rows", "n", "_mask")

    def __init__(self, rows: np.ndarray, n: int, mask: np.ndarray | None = None) -> None:
        self.rows = rows
        self.n = n
        self._mask = mask

    @classmethod
    def of(cls, n: int, *parts: np.ndarray) -> BlockedRows:
        """The union of row arrays (any order, repeats allowed; every row in [0, n))."""
        if n < MASK_BELOW:  # a small catalogue: the mask first, its rows from it
            mask = np.zeros(int(n), dtype=bool)
            for p in parts:
                if len(p):
                    mask[np.asarray(p, dtype=np.int64)] = True
            return cls(np.flatnonzero(mask).astype(np.int64, copy=False), int(n), mask)
        pieces = [np.asarray(p, dtype=np.int64).ravel() for p in parts if len(p)]
        if not pieces:
            return cls(_EMPTY, int(n))
        return cls(sorted_unique(np.concatenate(pieces) if len(pieces) > 1 else pieces[0]), int(n))

    @classmethod
    def of_mask(cls, mask: np.ndarray) -> BlockedRows:
        """A catalogue mask (True = blocked) as blocked rows (O(catalogue), once)."""
        mask = np.asarray(mask, dtype=bool)
        return cls(np.flatnonzero(mask).astype(np.int64), len(mask), mask)

    def __len__(self) -> int:
        """The catalogue's row count (as ``len`` of a mask)."""
        return self.n

    @property
    def count(self) -> int:
        """How many rows are blocked."""
        return len(self.rows)

    def __getitem__(self, at) -> np.ndarray | bool:
        """bool per row of ``at`` (an int array, or one int): blocked or not."""
        if self._mask is not None:
            return self._mask[at]
        if np.ndim(at) == 0:
            i = int(np.searchsorted(self.rows, at))
            return bool(i < len(self.rows) and self.rows[i] == at)
        return in_sorted(self.rows, at)

    def mask(self) -> np.ndarray:
        """bool [n], True at the blocked rows (O(catalogue): for the paths that score every row)."""
        if self._mask is not None:
            return self._mask
        out = np.zeros(self.n, dtype=bool)
        out[self.rows] = True
        return out

    def union(self, other: BlockedRows) -> BlockedRows:
        if other.n != self.n:
            raise ValueError(f"blocked rows over {self.n} and {other.n} rows")
        if self._mask is None and other._mask is None:
            return BlockedRows.of(self.n, self.rows, other.rows)
        return BlockedRows.of_mask(self.mask() | other.mask())


#: what the retrieval paths take as the blocked rows: a bool mask over the catalogue or BlockedRows
Blocked = np.ndarray | BlockedRows


def sorted_unique(rows: np.ndarray) -> np.ndarray:
    """``np.unique`` of an int array, by a sort and a neighbour comparison (NumPy 2's
    ``np.unique`` costs ~50-100 us on a few hundred rows, several times this)."""
    out = np.sort(np.asarray(rows, dtype=np.int64).ravel())
    if len(out) > 1:
        keep = np.empty(len(out), dtype=bool)
        keep[0] = True
        np.not_equal(out[1:], out[:-1], out=keep[1:])
        out = out[keep]
    return out


def in_sorted(sorted_rows: np.ndarray, at: np.ndarray) -> np.ndarray:
    """bool per element of ``at``: whether it is in ``sorted_rows`` (sorted ascending, repeats
    allowed); a binary search each, O(len(at) x log len(sorted_rows))."""
    at = np.asarray(at)
    if len(sorted_rows) == 0:
        return np.zeros(at.shape, dtype=bool)
    pos = np.searchsorted(sorted_rows, at)
    return sorted_rows[np.minimum(pos, len(sorted_rows) - 1)] == at


def blocked_count(blocked: np.ndarray | BlockedRows) -> int:
    """How many rows a mask or ``BlockedRows`` blocks."""
    return blocked.count if isinstance(blocked, BlockedRows) else int(np.count_nonzero(blocked))


def as_mask(blocked: np.ndarray | BlockedRows | None) -> np.ndarray | None:
    """The bool [n] mask of a mask or ``BlockedRows`` (None stays None)."""
    return blocked.mask() if isinstance(blocked, BlockedRows) else blocked
