"""Zero-shot text (with its embedding cache) and SASRec on tiny hand-made data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from offline.baselines.interactions import Interactions
from offline.baselines.sasrec import SASRec, first_occurrences, windows
from offline.baselines.scoring import ScoreRecommender
from offline.baselines.text_embeddings import catalogue_key, item_embeddings
from offline.baselines.zeroshot import NoItemText, ZeroShotText, recency_weights
from offline.eval.slices import user_cuts
from tests.fixtures.timed_purchases import CUTOFF, prepared_timed

DAY = pd.Timedelta(days=1)
TEXTS = {"a": "apple", "b": "banana", "c": "cherry", "d": "date"}


def test_recency_weights_halve_per_half_life():
    assert recency_weights(np.array([0.0, 86_400.0, 172_800.0]), 1.0).tolist() == [0.25, 0.5, 1.0]
    assert recency_weights(np.array([0.0, 5.0]), math.inf).tolist() == [1.0, 1.0]


@pytest.fixture()
def zeroshot(tmp_path):
    # u bought "a" 1 day before the cut and "b" twice about 20 days before; "c" and "d" were bought
    # by others. Hand-made 2-d embeddings, put in the cache under the catalogue's key, so no model
    # runs: a = [1, 0], b = [0, 1], c = [0.8, 0.6], d = [0.6, 0.8].
    rows = [
        ("u", "a", CUTOFF - DAY),
        ("u", "b", CUTOFF - 20 * DAY),
        ("u", "b", CUTOFF - 19 * DAY),
        ("v", "c", CUTOFF - 2 * DAY),
        ("w", "d", CUTOFF - 2 * DAY),
        ("u", "c", CUTOFF + DAY),
    ]
    data = prepared_timed(rows, texts=TEXTS)
    model_dir = tmp_path / "encoder"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}")
    inter = Interactions.from_purchases(data.train_purchases(), cuts=user_cuts(data))
    key = catalogue_key(model_dir, list(inter.item_ids), [TEXTS[i] for i in inter.item_ids])
    (tmp_path / "cache").mkdir()
    np.save(tmp_path / "cache" / f"{key}.npy", np.array([[1, 0], [0, 1], [0.8, 0.6], [0.6, 0.8]], np.float32))
    model = ZeroShotText(
        data.item_text(), half_life_days=1.0, model_path=model_dir, cache_dir=tmp_path / "cache"
    )
    model.fit(inter)
    return inter, model


def test_zeroshot_follows_the_recent_purchase(zeroshot):
    inter, model = zeroshot
    fn = ScoreRecommender(model, inter)
    assert model.settings["embedding_cache_hit"] is True
    # half-life 1 day: "a" (1 day old) outweighs "b" (~19.5 days old) -> user vector ~ a -> c (0.8) > d (0.6)
    assert fn(["u"], 2, {"u": {"a", "b"}}) == [["c", "d"]]
    # no decay: a + 2b = [1, 2] -> c: 0.8 + 1.2 = 2.0 < d: 0.6 + 1.6 = 2.2
    model.set_knob(half_life_days=math.inf)
    assert fn(["u"], 2, {"u": {"a", "b"}}) == [["d", "c"]]


def test_zeroshot_refuses_a_catalogue_without_text(zeroshot):
    inter, _ = zeroshot
    with pytest.raises(NoItemText, match="no item"):
        ZeroShotText({}, model_path=None).fit(inter)


def test_item_embeddings_encode_once_then_hit_the_cache(tiny_bert_dir, tmp_path):
    ids, texts = ["x", "y", "z"], ["red shoe", "blue shoe", "green hat"]
    first, info1 = item_embeddings(ids, texts, tiny_bert_dir, tmp_path, threads=1)
    again, info2 = item_embeddings(ids, texts, tiny_bert_dir, tmp_path, threads=1)
    assert not info1["cached"] and info2["cached"] and info1["key"] == info2["key"]
    assert first.shape[0] == 3 and np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(first, again)
    # another catalogue (one text changed) gets another key
    _, info3 = item_embeddings(
        ids, ["red shoe", "blue shoe", "green cap"], tiny_bert_dir, tmp_path, threads=1
    )
    assert info3["key"] != info1["key"] and not info3["cached"]


def test_sequence_helpers():
    assert first_occurrences(np.array([3, 1, 3, 2, 1])).tolist() == [3, 1, 2]
    # 6 items, windows of at most 3: every next-item step (5 of them) is covered exactly once
    assert [w.tolist() for w in windows(np.arange(6), 2)] == [[3, 4, 5], [1, 2, 3], [0, 1]]
    assert windows(np.arange(1), 2) == []


def test_sasrec_learns_the_successor():
    # 10 items on a cycle; every user buys 4 consecutive items of it, starting anywhere. The next
    # item after a history ending in i is always i + 1, which only an order-aware model can know.
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    rows = []
    for u in range(60):
        start = u % 10
        for step in range(4):
            rows.append((f"u{u}", f"i{(start + step) % 10}", t0 + pd.Timedelta(hours=u * 10 + step)))
    data = prepared_timed(rows, split="leave-last-out")
    inter = Interactions.from_purchases(data.train_purchases(), cuts=user_cuts(data))
    model = SASRec(
        dim=16, layers=1, max_len=5, dropout=0.0, learning_rate=0.01, batch_size=32, max_epochs=60, threads=1
    )
    model.fit(inter)
    fn = ScoreRecommender(model, inter)
    users = [f"u{u}" for u in range(10)]
    top = fn(users, 1, {})
    # user u (start s = u) trained on i_s, i_s+1, i_s+2: the next item is i_s+3
    hits = sum(t == [f"i{(u + 3) % 10}"] for u, t in enumerate(top))
    assert hits >= 8, top
    assert model.settings["epochs_run"] == 60 and model.settings["stopped"] == "max_epochs"


def test_sasrec_early_stopping_keeps_the_best_epoch():
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    rows = [
        (f"u{u}", f"i{(u + s) % 6}", t0 + pd.Timedelta(hours=u * 10 + s)) for u in range(20) for s in range(3)
    ]
    inter = Interactions.from_purchases(prepared_timed(rows).train_purchases())
    # a monitor that peaks at the 2nd evaluation (epoch 4) and falls after: training stops after
    # `patience` = 2 evaluations without gain (epoch 8) and best_epochs = 4
    calls = iter([0.1, 0.3, 0.2, 0.1, 0.0])
    model = SASRec(dim=8, layers=1, max_len=3, max_epochs=50, eval_every=2, patience=2, threads=1)
    model.fit(inter, monitor=lambda m: next(calls))
    assert model.best_epochs == 4 and model.settings["epochs_run"] == 8
    assert model.settings["stopped"] == "early stopping"
