"""The live catalogue: the current ``Catalogue`` snapshot of a serving process, grown by
upserts (serialised under one lock) while readers take ``current`` without locking."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from fulcrum.core.bundle.catalogue import Catalogue, with_search_parts
from fulcrum.core.bundle.catalogue_growth import Buffers, grow


class LiveCatalogue:
    """Holds the current snapshot; upserts are serialised, readers never lock.

    Upserts grow the snapshot through ``catalogue_growth.grow`` with buffers of spare capacity
    (amortised O(1) per new item, no copy of the embedding matrix per item). An upsert keeps a
    bundle item's learned vectors unless ``replace_learned``; at most ``max_upserted`` items are
    added while serving (``last_refused`` lists the ids an upsert refused)."""

    def __init__(
        self, catalogue: Catalogue, replace_learned: bool = False, max_upserted: int | None = None
    ) -> None:
        if max_upserted is not None and max_upserted < 0:
            raise ValueError(f"max_upserted: must be >= 0, got {max_upserted}")
        self._current = catalogue
        self._lock = threading.Lock()
        self._buffers: Buffers | None = None
        self.replace_learned = replace_learned
        self.max_upserted = max_upserted
        self.last_refused: list[str] = []

    @property
    def current(self) -> Catalogue:
        return self._current

    def upsert(
        self,
        item_ids: Sequence[str],
        texts: Sequence[str],
        embeddings: np.ndarray,
        prices: Sequence[float],
        now: float,
        refused: list[str] | None = None,
        search_vectors: np.ndarray | None = None,
    ) -> Catalogue:
        """Add or update items; the ids refused by ``max_upserted`` are appended to ``refused``."""
        with self._lock:
            old = self._current
            new, self._buffers, self.last_refused = grow(
                old,
                self._buffers,
                item_ids,
                texts,
                embeddings,
                prices,
                now,
                self.replace_learned,
                self.max_upserted,
                search_vectors,
            )
            grown_snapshot = with_search_parts(old, new, item_ids, texts, self.last_refused)
            self._current = grown_snapshot.warm()  # published with its orders computed
            if self._buffers is not None:
                self._buffers.owner = self._current  # the snapshot that may append next
            if refused is not None:
                refused.extend(self.last_refused)
            return self._current

    def count(self, purchased: Sequence[str], shown: Sequence[str]) -> int:
        """Add live purchase / impression observations (exploration's posteriors learn online).

        Counts are added in place to the current snapshot's arrays (readers may see a count one
        event late; snapshots grown from it share or copy those arrays, so counts survive an
        upsert). Unknown ids are ignored.
        Returns how many observations were counted.
        """
        with self._lock:
            cat = self._current
            p = cat.indices(purchased)
            i = cat.indices(shown)
            np.add.at(cat.purchases, p, 1.0)
            np.add.at(cat.impressions, i, 1.0)
            return len(p) + len(i)
