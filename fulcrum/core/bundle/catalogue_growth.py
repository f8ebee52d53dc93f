"""Growing the live catalogue in amortised O(1) per new item, with immutable snapshots.

A :class:`~fulcrum.core.bundle.catalogue.Catalogue` is a snapshot: row i of every array is one
item, and a request that took a snapshot must see it unchanged. Building each new snapshot by
copying the whole embedding matrix (``np.vstack`` per new item) makes a stream of upserts
quadratic: 20,000 new items into a 4,000-item catalogue copied ~100 million float rows.

``Buffers`` keeps every per-row array with spare capacity (doubling when full); a snapshot holds
views of the first ``n`` rows. Appending writes rows ``n..n+k`` of the buffers -- invisible to
the older snapshots, whose views stop at their own ``n`` -- and the new snapshot views ``n+k``
rows. Only the newest snapshot may append (``Buffers.owner``): a second branch from an older
snapshot would overwrite the newer one's rows, so it gets fresh buffers instead.

Changing an existing row is copy-on-write of the arrays that change (price; the vectors only
when they change), once per batch, never per item: older snapshots keep their values. The copy
is made with the buffers' spare capacity and replaces that array's buffer only, so the next new
item does not reallocate every array. A changed
text is not copied with its column: it goes into the snapshot's persistent map of changed rows
(fulcrum/core/bundle/text_column.py).
Search's pooled text vectors (``search_vectors``) grow in the same buffers: an upsert of new
items never copies the matrix. The id -> row map is not copied either: new ids go into a
persistent map beside the bundle's dict (fulcrum/core/bundle/row_index.py).

Rules of an upsert (``grow``):

- an item the bundle brought keeps its learned vector (``embeddings`` carries the id residuals
  training learned; ``text_embeddings`` the bundle's text vector) unless ``replace_learned``;
  its text and (when one is announced) price change. An item added while serving gets the new
  vector in both spaces;
- at most ``max_upserted`` items added while serving: the rest of the new ones are refused (not
  retrievable until a bundle includes them) and counted by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from fulcrum.core.bundle.row_index import RowIndex
from fulcrum.core.bundle.text_column import TextColumn, base_texts, with_texts

if TYPE_CHECKING:
    from fulcrum.core.bundle.catalogue import Catalogue

#: the per-row arrays of a Catalogue, besides the two vector matrices
ROW_ARRAYS = (
    "item_ids",
    "texts",
    "price",
    "purchases",
    "impressions",
    "cancel_rate",
    "first_seen",
    "popularity_rank",
    "upserted",
)
MIN_CAPACITY = 64


@dataclass
class Buffers:
    """Arrays with spare rows; ``n`` rows are in use by ``owner`` (the newest snapshot)."""

    arrays: dict[str, np.ndarray]
    n: int
    owner: Any = None

    @property
    def capacity(self) -> int:
        return len(self.arrays["item_ids"])

    @classmethod
    def of(cls, arrays: dict[str, np.ndarray], n: int, capacity: int) -> Buffers:
        out = {}
        for name, a in arrays.items():
            buf = np.empty((capacity, *a.shape[1:]), dtype=a.dtype)
            buf[:n] = a[:n]
            out[name] = buf
        return cls(out, n)


#: the vector matrices a Catalogue may have besides ``embeddings`` (None when it has not)
OPTIONAL_MATRICES = ("text_embeddings", "search_vectors")


def _arrays(cat: Catalogue) -> dict[str, np.ndarray]:
    arrays = {name: getattr(cat, name) for name in ROW_ARRAYS}
    arrays["texts"] = base_texts(cat.texts)  # changed texts stay in the column's map (text_column.py)
    arrays["embeddings"] = cat.embeddings
    for name in OPTIONAL_MATRICES:
        if getattr(cat, name) is not None:
            arrays[name] = getattr(cat, name)
    return arrays


def grow(
    cat: Catalogue,
    buffers: Buffers | None,
    item_ids: Sequence[str],
    texts: Sequence[str],
    embeddings: np.ndarray,
    prices: Sequence[float],
    now: float,
    replace_learned: bool = False,
    max_upserted: int | None = None,
    search_vectors: np.ndarray | None = None,
) -> tuple[Catalogue, Buffers | None, list[str]]:
    """The snapshot with these items added or updated, the buffers to grow it further, and the
    ids refused by ``max_upserted``. ``search_vectors``: the items' pooled search vectors, needed
    when the catalogue has a search space (grown in the same buffers, never copied whole)."""
    vectors = np.asarray(embeddings, dtype=np.float32)
    if len(vectors) != len(item_ids) or len(texts) != len(item_ids) or len(prices) != len(item_ids):
        raise ValueError("item_ids, texts, embeddings and prices must have the same length")
    search = None
    if cat.search_vectors is not None:
        if search_vectors is None:
            raise ValueError("the catalogue has search vectors: upserted items need theirs")
        search = np.asarray(search_vectors, dtype=np.float32)
        if len(search) != len(item_ids):
            raise ValueError("search_vectors must have one row per item")
    latest: dict[str, int] = {}
    for j, item in enumerate(item_ids):  # the last announcement of an item in the call wins
        latest.pop(item, None)
        latest[item] = j
    index = cat.index
    updates = [(item, j) for item, j in latest.items() if item in index]
    new = [(item, j) for item, j in latest.items() if item not in index]
    refused: list[str] = []
    if max_upserted is not None:
        room = max(0, max_upserted - int(np.count_nonzero(cat.upserted)))
        refused = [item for item, _ in new[room:]]
        new = new[:room]

    arrays = _arrays(cat)
    text_changes: dict[int, str] = {}
    n, k = len(cat), len(new)
    if updates:
        changed_rows = [(index[item], j) for item, j in updates]
        # an array copied on write goes into a buffer of the growth buffers' capacity, which
        # replaces that array's buffer: the other arrays' buffers stay (no reallocation of every
        # array, the matrices included, at the next new item)
        owned = buffers is not None and buffers.owner is cat and buffers.n == n
        capacity = buffers.capacity if owned and buffers is not None else None
        arrays, copied = _updated(
            arrays, changed_rows, texts, vectors, prices, replace_learned, search, cat.texts, text_changes,
            capacity,
        )  # fmt: skip
        if copied:
            if buffers is not None and capacity is not None:
                buffers.arrays.update(copied)
            else:
                buffers = None  # the copied arrays do not live in the buffers
    if not k and not text_changes and all(arrays[name] is a for name, a in _arrays(cat).items()):
        return cat, buffers, refused  # nothing changed
    new_index: Any = index
    if k:
        usable = buffers is not None and buffers.owner is cat and buffers.n == n
        if not usable or buffers is None or buffers.capacity < n + k:
            buffers = Buffers.of(arrays, n, max(MIN_CAPACITY, 2 * (n + k)))
        rows = slice(n, n + k)
        a = buffers.arrays
        js = [j for _, j in new]
        a["item_ids"][rows] = np.array([item for item, _ in new], dtype=object)
        a["texts"][rows] = np.array([texts[j] for j in js], dtype=object)
        a["price"][rows] = [prices[j] if prices[j] > 0 else np.nan for j in js]
        a["purchases"][rows] = 0.0
        a["impressions"][rows] = 0.0
        a["cancel_rate"][rows] = 0.0
        a["first_seen"][rows] = now
        a["popularity_rank"][rows] = np.arange(n, n + k, dtype=np.float64)
        a["upserted"][rows] = True
        a["embeddings"][rows] = vectors[js]
        if "text_embeddings" in a:
            a["text_embeddings"][rows] = vectors[js]
        if search is not None:
            a["search_vectors"][rows] = search[js]
        arrays = {name: buf[: n + k] for name, buf in a.items()}
        buffers.n = n + k
        # the bundle's dict shared, the new ids in a persistent map: no copy of the index
        new_index = RowIndex.grown(index, ((item, n + offset) for offset, (item, _) in enumerate(new)))
    changes: dict[str, Any] = {name: arrays[name] for name in (*ROW_ARRAYS, "embeddings")}
    changes["texts"] = with_texts(cat.texts, arrays["texts"], text_changes)
    optional: dict[str, Any] = {name: arrays.get(name) for name in OPTIONAL_MATRICES}
    grown = replace(cat, index=new_index, **optional, **changes)
    if buffers is not None:
        buffers.owner = grown
    return grown, buffers, refused


def _updated(
    arrays: dict[str, np.ndarray],
    rows: list[tuple[int, int]],
    texts: Sequence[str],
    vectors: np.ndarray,
    prices: Sequence[float],
    replace_learned: bool,
    search: np.ndarray | None = None,
    old_texts: np.ndarray | TextColumn | None = None,
    text_changes: dict[int, str] | None = None,
    capacity: int | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Copy-on-write of the arrays the updates (catalogue row, input position) change, once per
    call; returns (arrays, the copied ones' new buffers by name: ``capacity`` rows each when
    given, the first n in use). Changed texts are not copied: they go into ``text_changes``
    (row -> text) for the snapshot's ``TextColumn``."""
    if old_texts is None:
        old_texts = arrays["texts"]
    if text_changes is None:
        text_changes = {}
    out = dict(arrays)
    upserted = arrays["upserted"]
    copied: dict[str, np.ndarray] = {}

    def writable(name: str) -> np.ndarray:
        if out[name] is arrays[name]:
            a = arrays[name]
            buf = np.empty((max(capacity or 0, len(a)), *a.shape[1:]), dtype=a.dtype)
            buf[: len(a)] = a
            copied[name] = buf
            out[name] = buf[: len(a)]
        return out[name]

    for row, j in rows:
        if old_texts[row] != texts[j]:
            text_changes[row] = texts[j]
        price = prices[j]
        if price == price and price > 0 and out["price"][row] != price:  # none announced: keep it
            writable("price")[row] = price
        if replace_learned or upserted[row]:  # a bundle item keeps its learned vectors by default
            writable("embeddings")[row] = vectors[j]
            if "text_embeddings" in out:
                writable("text_embeddings")[row] = vectors[j]
        if search is not None and not np.array_equal(out["search_vectors"][row], search[j]):
            writable("search_vectors")[row] = search[j]  # the text's own vector, any item
    return out, copied
