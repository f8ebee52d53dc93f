"""Recommend with the blocked rows as a small sorted array (fulcrum/core/blocked_rows.py) gives
the replies of the catalogue mask it replaced: ids, order, scores and reasons, on random users,
excludes, session items and repurchase settings, on the exact path and on the ANN path.

The old behaviour is the same pipeline fed the mask the old code built (``BlockedRows.of``
replaced by the mask of the same rows) with the old exploration pool (byte marks over the
catalogue), so any difference comes from the change itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from fulcrum.core import blocked_rows
from fulcrum.core.blocked_rows import BlockedRows
from fulcrum.core.bundle.catalogue import Catalogue
from fulcrum.core.hybrid import HybridWeights, NeighbourTable
from fulcrum.core.profile import UserProfile
from online.config import ServeConfig
from online.server import recommend as rec
from online.server.feature_source import InMemoryFeatures
from online.server.requests import Knobs, RecommendQuery

N, D = 2500, 16


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _catalogue(seed: int, ann: bool) -> Catalogue:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, D))
    emb = _unit(centres[rng.integers(0, 40, N)] + 0.6 * rng.standard_normal((N, D)))
    items = pd.DataFrame({"item_id": [f"i{j}" for j in range(N)], "text": ["x"] * N,
                          "purchases": rng.integers(0, 5, N), "impressions": rng.integers(0, 8, N)})
    per = 10
    table = NeighbourTable(np.arange(0, N * per + 1, per, dtype=np.int64),
                           rng.integers(0, N, N * per).astype(np.int64),
                           rng.uniform(0.05, 1.0, N * per).astype(np.float32))  # fmt: skip
    trend = rng.integers(0, 4, N).astype(np.float32)
    cat = Catalogue.from_frame(items, emb, table, trend, HybridWeights(0.15, 0.5), 0.0)
    if not ann:
        return cat
    pytest.importorskip("faiss")
    from fulcrum.core import ann_index
    from fulcrum.core.bundle.ann import AnnSettings, LockedIndex, ann_parts

    index = LockedIndex(ann_index.build_hnsw(cat.embeddings, threads=1))
    return dataclasses.replace(cat, ann=ann_parts(cat, index, None, AnnSettings(min_items=1)))


class _Model:
    """The parts of ServingModel Recommend uses; the user tower is a fixed function of its input."""

    def __init__(self, cat: Catalogue) -> None:
        self.catalogue = SimpleNamespace(current=cat)
        self.version = "test"
        self.bundle = SimpleNamespace(user_encoder=SimpleNamespace(history_length=20))

    async def encode_user(self, history) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(history.emb.tobytes()).digest()[:8], "little")
        return _unit(np.random.default_rng(seed).standard_normal((1, D)))[0]


def _old_exploration_pool(cat, blocked, exploit, leftovers, threshold, rng, size):
    """The exploration pool before this change: byte marks over the whole catalogue."""
    new_rows = cat.low_trial_rows(threshold)
    leftovers = np.asarray(leftovers, dtype=np.int64)
    exploit = np.asarray(exploit, dtype=np.int64)
    mark = np.zeros(len(blocked), dtype=np.int8)
    mark[leftovers] = 1
    mark[exploit] = 2

    def eligible(rows):
        trials = np.maximum(cat.impressions[rows], cat.purchases[rows])
        m = mark[rows]
        ok = ((trials < threshold) & ~blocked[rows]) | (m == 1)
        return rows[ok & (m != 2)]

    candidates = np.concatenate([new_rows, leftovers])
    if len(candidates) <= 4 * size:
        pool = np.unique(eligible(candidates))
        if len(pool) > size:
            pool = np.unique(pool[rng.integers(0, len(pool), size)])
        return pool
    drawn = eligible(candidates[rng.integers(0, len(candidates), 2 * size)])
    _, first = np.unique(drawn, return_index=True)
    return np.sort(drawn[np.sort(first)][:size])


class _MaskOf:
    """``BlockedRows.of`` as the old code built it: a bool mask over the catalogue."""

    @staticmethod
    def of(n: int, *parts: np.ndarray) -> np.ndarray:
        mask = np.zeros(n, dtype=bool)
        for p in parts:
            mask[np.asarray(p, dtype=np.int64)] = True
        return mask


def _users(cat: Catalogue, rng: np.random.Generator, count: int) -> list[UserProfile]:
    now = time.time()
    out = []
    for u in range(count):
        pick = [str(cat.item_ids[r]) for r in rng.choice(N, int(rng.integers(0, 60)), replace=False)]
        bought = frozenset(pick[: len(pick) // 2])
        recent = tuple(pick[: min(len(pick), 12)])
        times = tuple(now - 3600.0 * (len(recent) - j) for j in range(len(recent)))
        out.append(UserProfile(
            f"u{u}", recent, ("purchase",) * len(recent), times, float(len(bought)), 0.0,
            float(len(pick)), times[-1] if times else None, bought,
            cancelled=frozenset(pick[len(pick) // 2: len(pick) // 2 + 3]),
            disliked=frozenset(pick[-2:]),
            ignored={i: int(rng.integers(0, 6)) for i in pick[-6:-2]},
        ))  # fmt: skip
    return out


def _queries(cat: Catalogue, users: list[UserProfile], rng: np.random.Generator) -> list[RecommendQuery]:
    out = []
    for i in range(len(users) + 20):  # the last 20: unknown users (cold path)
        uid = users[i].user_id if i < len(users) else f"cold{i}"
        session = tuple(str(cat.item_ids[r]) for r in rng.integers(0, N, int(rng.integers(0, 4))))
        excludes = tuple(str(cat.item_ids[r]) for r in rng.integers(0, N, int(rng.integers(0, 30))))
        share, diversity = float(rng.choice([0.0, 0.2, 0.5])), float(rng.choice([0.0, 0.3]))
        knobs = Knobs(share, diversity, bool(rng.random() < 0.3), i)
        out.append(RecommendQuery(uid, int(rng.integers(1, 30)), session, excludes, knobs))
    return out


async def _replies(cat: Catalogue, users, queries) -> list:
    model, source, cfg = _Model(cat), InMemoryFeatures(users), ServeConfig()
    return [await rec.recommend(model, source, None, cfg, q, 5.0) for q in queries]


@pytest.mark.parametrize("ann", [False, True])
@pytest.mark.parametrize("mask_below", [blocked_rows.MASK_BELOW, 0])  # small-catalogue mask; none
def test_replies_equal_the_catalogue_mask_code(
    ann: bool, mask_below: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blocked_rows, "MASK_BELOW", mask_below)
    cat = _catalogue(seed=11, ann=ann)
    assert cat.ann_active == ann
    rng = np.random.default_rng(5)
    users = _users(cat, rng, 60)
    queries = _queries(cat, users, rng)
    new = asyncio.run(_replies(cat, users, queries))
    with monkeypatch.context() as m:
        m.setattr(rec, "BlockedRows", _MaskOf)
        m.setattr(rec, "exploration_pool", _old_exploration_pool)
        old = asyncio.run(_replies(cat, users, queries))
    assert len(new) == len(old) == len(queries)
    for got, want in zip(new, old, strict=True):
        assert got.items == want.items  # ids, order, scores, reasons (Scored is a dataclass)
        assert (got.degraded, got.degraded_reason) == (want.degraded, want.degraded_reason)
    assert sum(len(r.items) for r in new) > 0


@pytest.mark.parametrize("mask_below", [blocked_rows.MASK_BELOW, 0])
def test_blocked_rows_index_like_a_mask(mask_below: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blocked_rows, "MASK_BELOW", mask_below)
    rng = np.random.default_rng(2)
    for share in (0.0, 0.001, 0.1, 0.9, 1.0):
        mask = rng.random(500) < share
        rows = np.flatnonzero(mask)
        # any order, repeats allowed, split in parts
        blocked = BlockedRows.of(500, rng.permutation(rows), rows[: len(rows) // 2])
        at = rng.integers(0, 500, 300)
        np.testing.assert_array_equal(blocked[at], mask[at])
        np.testing.assert_array_equal(blocked.mask(), mask)
        assert blocked.count == int(mask.sum()) and len(blocked) == 500
        assert [blocked[int(i)] for i in at[:20]] == mask[at[:20]].tolist()
        from_mask = BlockedRows.of_mask(mask)
        np.testing.assert_array_equal(from_mask[at], mask[at])
        np.testing.assert_array_equal(from_mask.rows, rows)
        union = blocked.union(BlockedRows.of(500, np.array([0, 499])))
        want = mask.copy()
        want[[0, 499]] = True
        np.testing.assert_array_equal(union.mask(), want)
    assert BlockedRows.of(5)[np.array([0, 4])].tolist() == [False, False]
