"""Bounded memory for upserts: embedding in chunks of <= 256, amortised catalogue growth with
immutable snapshots, bundle items keeping their learned vectors, the cap on upserted items."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fulcrum.core.bundle.catalogue import Catalogue
from fulcrum.core.bundle.live_catalogue import LiveCatalogue
from fulcrum.core.events import Event
from fulcrum.core.schema import EventType
from online.inference.chunked import EMBED_CHUNK, embed_chunked

D = 8


def bundle_catalogue(n: int = 5, text_space: bool = True) -> Catalogue:
    rng = np.random.default_rng(0)
    items = pd.DataFrame(
        {
            "item_id": [f"b{i}" for i in range(n)],
            "text": [f"bundle item {i}" for i in range(n)],
            "price": np.arange(1.0, n + 1),
            "purchases": np.arange(n, 0, -1.0),
        }
    )
    emb = rng.normal(size=(n, D)).astype(np.float32)
    return Catalogue.from_frame(items, emb, text_embeddings=emb + 1 if text_space else None)


def vec(k: float) -> np.ndarray:
    return np.full((1, D), k, dtype=np.float32)


def test_embed_chunked_never_sends_more_than_256_texts_and_keeps_the_order() -> None:
    calls: list[int] = []

    def encoder(texts):
        calls.append(len(texts))
        return [np.full(D, float(t)) for t in texts]

    texts = [str(i) for i in range(600)]
    out = embed_chunked(encoder, texts, D)
    assert calls == [256, 256, 88] and max(calls) <= EMBED_CHUNK
    assert out.shape == (600, D) and out.dtype == np.float32
    assert np.array_equal(out[:, 0], np.arange(600, dtype=np.float32))
    assert embed_chunked(encoder, [], D).shape == (0, D)
    with pytest.raises(ValueError, match="chunk"):
        embed_chunked(encoder, texts, D, chunk=1000)


def test_appending_one_item_at_a_time_reallocates_a_logarithmic_number_of_times() -> None:
    live = LiveCatalogue(bundle_catalogue())
    buffers_seen: set[int] = set()
    first = live.current
    for i in range(2000):
        cat = live.upsert([f"n{i}"], [f"new {i}"], vec(i), [1.0], now=float(i))
        buffers_seen.add(id(cat.embeddings.base))
    cat = live.current
    assert len(cat) == 2005 and cat.index["n1999"] == 2004
    assert np.all(cat.embeddings[5:, 0] == np.arange(2000))
    # capacity doubles: 64 ... 4096 -> at most ~8 distinct backing buffers for 2,000 appends
    assert len(buffers_seen) <= 8
    assert len(first) == 5 and "n0" not in first.index  # the bundle snapshot is untouched


def test_older_snapshots_never_see_later_rows_or_changes() -> None:
    live = LiveCatalogue(bundle_catalogue())
    a = live.upsert(["n1"], ["one"], vec(1), [2.0], now=1.0)
    b = live.upsert(["n2"], ["two"], vec(2), [3.0], now=2.0)
    c = live.upsert(["n1"], ["one, renamed"], vec(9), [5.0], now=3.0)  # update of an upserted item
    assert (len(a), len(b), len(c)) == (6, 7, 7)
    assert a.texts[5] == "one" and a.embeddings[5, 0] == 1 and a.price[5] == 2.0
    assert c.texts[5] == "one, renamed" and c.embeddings[5, 0] == 9 and c.price[5] == 5.0
    assert c.search_embeddings[5, 0] == 9  # an item added while serving: new vector in both spaces
    # a second branch from an old snapshot does not overwrite the newer one's rows
    branch = a.with_items(["x"], ["branch"], vec(7), [1.0], now=4.0)
    assert branch.item_ids[6] == "x" and b.item_ids[6] == "n2" and b.embeddings[6, 0] == 2


def test_a_bundle_item_keeps_its_learned_vectors_unless_configured() -> None:
    base = bundle_catalogue()
    learned, text_vec = base.embeddings[2].copy(), base.search_embeddings[2].copy()
    kept = LiveCatalogue(base).upsert(["b2"], ["renamed bundle item"], vec(5), [0.0], now=1.0)
    assert kept.texts[2] == "renamed bundle item" and kept.price[2] == 3.0  # no price: kept
    assert np.array_equal(kept.embeddings[2], learned) and np.array_equal(kept.search_embeddings[2], text_vec)
    replaced = LiveCatalogue(base, replace_learned=True).upsert(["b2"], ["x"], vec(5), [4.0], now=1.0)
    assert (
        replaced.embeddings[2, 0] == 5 and replaced.search_embeddings[2, 0] == 5 and replaced.price[2] == 4.0
    )
    assert np.array_equal(base.embeddings[2], learned) and base.texts[2] == "bundle item 2"


def test_the_cap_refuses_new_items_beyond_it_but_still_updates_known_ones() -> None:
    live = LiveCatalogue(bundle_catalogue(), max_upserted=3)
    refused: list[str] = []
    cat = live.upsert([f"n{i}" for i in range(5)], list("abcde"), np.ones((5, D)), [1.0] * 5, 0.0, refused)
    assert refused == ["n3", "n4"] and len(cat) == 8 and "n3" not in cat.index
    refused.clear()
    cat = live.upsert(["n0", "n9"], ["updated", "z"], np.ones((2, D)), [1.0, 1.0], 0.0, refused)
    assert refused == ["n9"] and cat.texts[cat.index["n0"]] == "updated"


def test_counts_survive_growth() -> None:
    live = LiveCatalogue(bundle_catalogue())
    live.upsert(["n1"], ["one"], vec(1), [1.0], now=0.0)
    live.count(["n1", "b0"], ["n1"])
    live.upsert(["n2"], ["two"], vec(2), [1.0], now=0.0)
    cat = live.current
    assert cat.purchases[cat.index["n1"]] == 1 and cat.impressions[cat.index["n1"]] == 1
    assert cat.purchases[0] == 6  # b0 started with 5


class _Model:
    def __init__(self):
        self.catalogue = LiveCatalogue(bundle_catalogue(), max_upserted=300)
        self.calls: list[int] = []

    def upsert_items(self, ids, texts, prices):
        self.calls.append(len(ids))
        refused: list[str] = []
        self.catalogue.upsert(ids, texts, np.ones((len(ids), D)), prices, 0.0, refused)
        return refused


class _Holder:
    def __init__(self):
        self.current = _Model()
        self.recorded: dict[str, str] = {}

    def record_upserts(self, ids, texts, prices):
        self.recorded.update(zip(ids, texts, strict=True))

    def forget_upserts(self, ids):
        for i in ids:
            self.recorded.pop(i, None)


def test_catalogue_sink_upserts_in_chunks_and_forgets_refused_items() -> None:
    from online.server.catalogue_sink import CatalogueSink

    holder = _Holder()
    events = [
        Event(f"e{i}", EventType.ITEM_UPSERT, "", f"n{i}", 0.0, 1.0, 1_700_000_000_000, "", f"item {i}")
        for i in range(600)
    ]
    CatalogueSink(holder).apply(events)  # type: ignore[arg-type]
    assert holder.current.calls == [256, 256, 88]
    assert len(holder.current.catalogue.current) == 5 + 300
    assert len(holder.recorded) == 300  # the refused ones are not replayed after a reload


def test_an_upserted_snapshot_is_published_warm() -> None:
    # the per-snapshot orders are computed in the upsert's thread, before readers see the snapshot,
    # and equal what a cold snapshot computes lazily
    import dataclasses

    live = LiveCatalogue(bundle_catalogue())
    new = live.upsert(["n1"], ["a brand new lamp"], vec(1), [2.0], now=1.0)
    # (the popularity percentile is computed at the rows item_stats asks for: not a snapshot vector)
    warm = {"is_tail", "popular_now_order", "popular_now_pct", "_trend_term"}
    assert warm <= set(vars(new))
    cold = dataclasses.replace(new)  # a copy without the cached values
    assert not warm & set(vars(cold))
    assert np.array_equal(new.popular_now_order, cold.popular_now_order)
    assert np.array_equal(new.is_tail, cold.is_tail)
