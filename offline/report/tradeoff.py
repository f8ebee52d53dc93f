"""The accuracy/tail trade-off of the re-ranker: sweep the tail boost and the MMR weight over the
bundle's cached candidates and find the largest tail share@10 within a 5 % NDCG@10 loss.

Order per warm user: relevance (``fulcrum.core.rerank.ordering``: the ranker's purchase probability,
the retrieval score, or their blend) -> ``tail_boosted`` (tail = outside the protocol's head
items, the 20 % most purchased train items, the same set the tail-share metric uses) -> the online
MMR (``fulcrum.core.rerank.diversity.mmr``, pure numpy) over the item embeddings -> top k. Cold users
get the popularity list throughout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fulcrum.core.rerank.tail_boost import tail_boosted

BOOSTS: tuple[float, ...] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.35, 0.4, 0.5, 0.75, 1.0)
MMR_WEIGHTS: tuple[float, ...] = (0.0, 0.2, 0.4)
MAX_NDCG_LOSS = 0.05


def recommend_fn(
    model,
    head_items: frozenset[str],
    relevance: str = "ranker",
    boost: float = 0.0,
    mmr_weight: float = 0.0,
    blend_weight: float = 0.5,
    cancel_risk_weight: float = 0.0,
):
    """``relevance`` is a serving ``ranking_mode`` ("retrieval", "ranker", "blend"); the score is
    ``fulcrum.core.rerank.ordering.ordering_scores``, the same pure function Recommend uses."""
    from threadpoolctl import threadpool_limits

    from fulcrum.core.rerank.diversity import mmr
    from fulcrum.core.rerank.ordering import ordering_scores

    cat = model.cat
    is_tail_all = np.array([i not in head_items for i in cat.item_ids], dtype=bool)

    def fn(users: list[str], k: int, exclude: dict[str, set[str]]) -> list[list[str]]:
        model.candidates(users, exclude)
        with threadpool_limits(limits=1, user_api="blas"):
            return [_one(u, k, exclude) for u in users]

    def _one(u: str, k: int, exclude: dict[str, set[str]]) -> list[str]:
        c = model.cached(u)
        if c is None or len(c.idx) == 0:
            return model.popular(exclude.get(u, set()), k)
        rel = ordering_scores(
            c.retrieval,
            c.purchase,
            c.cancel,
            mode=relevance,
            blend_weight=blend_weight,
            cancel_risk_weight=cancel_risk_weight,
        )
        rel = tail_boosted(rel, is_tail_all[c.idx], boost)
        order = mmr(rel, cat.embeddings[c.idx], k, mmr_weight)
        return [str(cat.item_ids[c.idx[j]]) for j in order]

    return fn


def sweep(
    model,
    prepared,
    protocol,
    relevance: str = "ranker",
    boosts: Sequence[float] = BOOSTS,
    weights: Sequence[float] = MMR_WEIGHTS,
) -> dict[str, Any]:
    from offline.eval.harness import evaluate_recommender

    points = []
    for w in weights:
        for b in boosts:
            m = evaluate_recommender(
                recommend_fn(model, protocol.head_items, relevance, b, w),
                prepared,
                k_list=(10, 20),
                protocol=protocol,
            )
            points.append(
                {
                    "boost": b,
                    "mmr_weight": w,
                    "ndcg@10": m["warm"]["ndcg@10"],
                    "recall@10": m["warm"]["recall@10"],
                    "tail_share@10": m["warm"]["tail_share@10"],
                    "coverage@10": m["warm"]["coverage@10"],
                    "intra_list_diversity@10": m["warm"].get("intra_list_diversity@10"),
                }
            )
    return {"relevance": relevance, "points": points, **best_within_loss(points)}


def best_within_loss(points: list[dict[str, Any]], max_loss: float = MAX_NDCG_LOSS) -> dict[str, Any]:
    """The point with the largest tail share@10 whose NDCG@10 >= (1 - max_loss) x the plain order's
    (boost 0, MMR 0). Pure."""
    base = next(p for p in points if p["boost"] == 0 and p["mmr_weight"] == 0)
    floor = (1.0 - max_loss) * base["ndcg@10"]
    ok = [p for p in points if p["ndcg@10"] >= floor]
    best = max(ok, key=lambda p: (p["tail_share@10"], p["ndcg@10"]))
    return {"base": base, "best": best, "ndcg_floor": floor, "max_ndcg_loss": max_loss}
