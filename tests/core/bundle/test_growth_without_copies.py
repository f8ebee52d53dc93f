"""Upserts without catalogue-sized copies: the id -> row map (fulcrum/core/bundle/row_index.py:
after random upserts every snapshot maps ids exactly as a dict copy per upsert did, older
snapshots never see later ids, the bundle's dict is never changed), the texts column
(text_column.py), copy-on-write into the growth buffers, popularity at the asked rows."""

from __future__ import annotations

import numpy as np

from fulcrum.core.bundle.live_catalogue import LiveCatalogue
from fulcrum.core.bundle.row_index import RowIndex, rows_of_ids
from tests.core.bundle.test_catalogue_growth import D, bundle_catalogue


def test_snapshots_map_ids_as_a_dict_copy_per_upsert() -> None:
    rng = np.random.default_rng(3)
    first = bundle_catalogue(40)
    base = dict(first.index)
    live = LiveCatalogue(first)
    snapshots = [(first, dict(first.index))]
    made = 0
    for _ in range(60):
        k = int(rng.integers(1, 6))
        known = [str(i) for i in rng.choice(live.current.item_ids, size=2)]
        fresh = [f"n{made + j}" for j in range(k)]
        made += k
        ids = [*fresh, *known, fresh[0]]  # a repeat within the call and existing ids
        want = dict(snapshots[-1][1])  # the old code: a dict copy plus the new ids, in the order
        latest: dict[str, None] = {}  # of their last announcement in the call
        for item in ids:
            latest.pop(item, None)
            latest[item] = None
        for item in latest:
            if item not in want:
                want[item] = len(want)
        vectors = rng.normal(size=(len(ids), D)).astype(np.float32)
        cat = live.upsert(ids, [f"t {i}" for i in ids], vectors, [1.0] * len(ids), now=0.0)
        snapshots.append((cat, want))
    for cat, want in snapshots:
        assert dict(cat.index) == want and len(cat.index) == len(want) == len(cat)
        probe = [*rng.choice(list(want), size=30).tolist(), "never", "n99999"]
        assert rows_of_ids(cat.index, probe).tolist() == [want.get(i, -1) for i in probe]
        assert cat.rows_of(set(probe)).tolist() == sorted({want[i] for i in probe if i in want})
        assert all((i in cat.index) == (i in want) for i in probe)
        assert [cat.item_ids[cat.index[i]] for i in want] == list(want)
    assert first.index == base and isinstance(first.index, dict)  # the bundle's dict untouched
    assert isinstance(live.current.index, RowIndex) and live.current.index.base is first.index


def test_row_index_reads_like_a_dict() -> None:
    index = RowIndex.grown({"a": 0, "b": 1}, [("c", 2)])
    again = RowIndex.grown(index, [("d", 3)])
    assert index.get("c") == 2 and index.get("d") is None and index.get("d", -1) == -1
    assert again["d"] == 3 and again["a"] == 0 and sorted(again) == ["a", "b", "c", "d"]
    assert "c" in again and "x" not in again and len(again) == 4
    assert again.rows(("d", "x", "a")).tolist() == [3, -1, 0]


def test_text_changes_keep_every_snapshots_texts_without_copying_the_column() -> None:
    """fulcrum/core/bundle/text_column.py: after random new items and text changes each snapshot
    reads the texts it was given (older ones keep theirs), and the column is never copied."""
    from fulcrum.core.bundle.text_column import TextColumn

    rng = np.random.default_rng(9)
    first = bundle_catalogue(30)
    live = LiveCatalogue(first)
    want = [str(t) for t in first.texts]
    snapshots = [(first, list(want))]
    made = 0
    for step in range(80):
        # bundle items (their learned vectors are kept) and no announced price: only texts change
        ids = [str(i) for i in rng.choice(first.item_ids, size=int(rng.integers(1, 4)), replace=False)]
        if step % 3 == 0:
            ids.append(f"n{made}")
            made += 1
        texts = [f"text {step} {j}" for j in range(len(ids))]
        vectors = rng.normal(size=(len(ids), D)).astype(np.float32)
        cat = live.upsert(ids, texts, vectors, [float("nan")] * len(ids), now=0.0)
        want = list(want)
        for item, text in zip(ids, texts, strict=True):
            row = cat.index[item]
            if row == len(want):
                want.append(text)
            else:
                want[row] = text
        snapshots.append((cat, want))
    bases: list[np.ndarray] = []
    for cat, texts in snapshots:
        assert len(cat.texts) == len(texts) == len(cat)
        assert [cat.texts[r] for r in range(len(cat))] == texts
        assert list(cat.texts) == texts
        rows = rng.integers(0, len(cat), 20)
        assert cat.texts[rows].tolist() == [texts[r] for r in rows]
        if isinstance(cat.texts, TextColumn):
            assert cat.texts.array().tolist() == texts
            buffer = cat.texts.base if cat.texts.base.base is None else cat.texts.base.base
            if not any(buffer is b for b in bases):
                bases.append(buffer)
    assert isinstance(live.current.texts, TextColumn)
    # the base arrays are the growth buffers (27 new items from 30: two doublings), never a copy
    # per text change (80 batches)
    assert len(bases) <= 3


def test_a_price_or_vector_change_keeps_the_other_buffers() -> None:
    """A copy-on-write (a price, an upserted item's vector) replaces that array's buffer only:
    the next new item is written into the same buffers as before (no reallocation of every
    array), and every snapshot keeps its own values."""
    live = LiveCatalogue(bundle_catalogue(10))
    one = np.ones((1, D), dtype=np.float32)
    a = live.upsert(["n0"], ["new 0"], one, [3.0], now=0.0)  # buffers made (capacity 64)
    b = live.upsert(["b1", "n0"], ["b1 again", "new 0"], np.vstack([one, 2 * one]), [9.5, 4.0], now=0.0)
    c = live.upsert(["n1"], ["new 1"], 3 * one, [5.0], now=0.0)
    assert c.item_ids.base is a.item_ids.base and c.upserted.base is a.upserted.base  # no reallocation
    # the copied arrays: a new buffer once (b), written in place by the next new item (c)
    assert c.price.base is b.price.base and b.price.base is not a.price.base
    assert c.embeddings.base is b.embeddings.base and b.embeddings.base is not a.embeddings.base
    assert [a.price[1], b.price[1], c.price[1]] == [2.0, 9.5, 9.5]
    assert [a.price[10], b.price[10], c.price[10]] == [3.0, 4.0, 4.0]
    np.testing.assert_array_equal(a.embeddings[10], one[0])  # n0's vector in the older snapshot
    np.testing.assert_array_equal(b.embeddings[10], 2 * one[0])
    np.testing.assert_array_equal(c.embeddings[11], 3 * one[0])
    assert len(a) == len(b) == 11 and len(c) == 12 and c.price[11] == 5.0


def test_item_stats_popularity_is_the_catalogue_vector_at_the_rows() -> None:
    live = LiveCatalogue(bundle_catalogue(20))
    cat = live.upsert(["n0", "n1"], ["a", "b"], np.ones((2, D), np.float32), [1.0, 2.0], now=0.0)
    rows = np.array([0, 5, 21, 20, 5])
    np.testing.assert_array_equal(cat.item_stats(rows).popularity_pct, cat.popularity_pct[rows])
