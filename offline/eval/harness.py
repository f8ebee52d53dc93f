"""Model-agnostic evaluation: run any recommend function through the OR-temporal protocol.

A recommender is a batched function::

    recommend_fn(user_ids: list[str], k: int, exclude: dict[str, set[str]]) -> list[list[str]]

returning, for each user, up to ``k`` item ids, best first. Warm users get their train items in
``exclude``; cold users (no train purchase) get an empty set — the function must still answer
for users it has never seen (e.g. with popular items). The harness enforces the protocol itself:
repeated items, excluded items and items outside the candidate pool (train items) are dropped
and counted under ``checks``, so a sloppy recommender is penalised rather than flattered.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from statistics import fmean

from offline.eval.coverage import catalogue_coverage
from offline.eval.hit_rate import hit_rate_at_k
from offline.eval.ndcg import ndcg_at_k
from offline.eval.novelty import novelty
from offline.eval.protocol import Protocol, protocol_for
from offline.eval.recall import recall_at_k
from offline.eval.tail_share import tail_share

RecommendFn = Callable[[list[str], int, dict[str, set[str]]], list[list[str]]]
ProgressFn = Callable[[int, int], None]


def _collect(
    recommend_fn: RecommendFn,
    users: Sequence[str],
    k: int,
    exclusions: dict[str, frozenset[str]],
    pool: frozenset[str],
    batch_size: int,
    checks: dict[str, int],
    progress: ProgressFn | None,
) -> list[list[str]]:
    out: list[list[str]] = []
    for start in range(0, len(users), batch_size):
        batch = list(users[start:start + batch_size])
        exclude = {u: set(exclusions.get(u, ())) for u in batch}
        lists = recommend_fn(batch, k, exclude)
        if len(lists) != len(batch):
            raise ValueError(f"recommend_fn returned {len(lists)} lists for {len(batch)} users")
        for user, recs in zip(batch, lists, strict=True):
            banned = exclusions.get(user, frozenset())
            clean: list[str] = []
            seen: set[str] = set()
            for item in recs:
                item = str(item)
                if item in seen:
                    checks["repeated"] += 1
                elif item in banned:
                    checks["excluded_recommended"] += 1
                elif item not in pool:
                    checks["outside_pool"] += 1
                else:
                    clean.append(item)
                    seen.add(item)
            checks["short_lists"] += int(len(clean) < k)
            out.append(clean[:k])
        if progress is not None:
            progress(min(start + batch_size, len(users)), len(users))
    return out


def _accuracy(lists: list[list[str]], users: Sequence[str], targets: dict[str, frozenset[str]],
              k_list: Sequence[int]) -> dict[str, float]:
    result: dict[str, float] = {}
    for k in k_list:
        if not users:
            result.update({f"ndcg@{k}": 0.0, f"recall@{k}": 0.0, f"hit_rate@{k}": 0.0})
            continue
        pairs = list(zip(lists, users, strict=True))
        result[f"ndcg@{k}"] = fmean(ndcg_at_k(r, targets[u], k) for r, u in pairs)
        result[f"recall@{k}"] = fmean(recall_at_k(r, targets[u], k) for r, u in pairs)
        result[f"hit_rate@{k}"] = fmean(hit_rate_at_k(r, targets[u], k) for r, u in pairs)
    return result


def _beyond_accuracy(lists: list[list[str]], protocol: Protocol, k_list: Sequence[int]) -> dict[str, float]:
    result: dict[str, float] = {}
    pool_size = max(len(protocol.candidate_pool), 1)
    for k in k_list:
        result[f"coverage@{k}"] = catalogue_coverage(lists, pool_size, k)
        result[f"tail_share@{k}"] = tail_share(lists, protocol.head_items, k)
        result[f"novelty@{k}"] = novelty(lists, protocol.item_train_users, max(protocol.n_train_users, 1), k)
    return result


def evaluate_recommender(
    recommend_fn: RecommendFn,
    prepared,
    k_list: Sequence[int] = (10, 20),
    protocol: Protocol | None = None,
    repeat_allowed: bool = False,
    batch_size: int = 512,
    progress: ProgressFn | None = None,
    per_user: bool = False,
) -> dict:
    """Evaluate ``recommend_fn`` on a PreparedData (or its ``validation_split()``).

    Returns ``{"warm": {"users", "ndcg@K", "recall@K", "hit_rate@K", "coverage@K",
    "tail_share@K", "novelty@K"}, "cold": {...}, "checks": {...}, "recommend_seconds": s}``.
    Pass a prebuilt ``protocol`` to evaluate many recommenders without rebuilding it.
    ``per_user=True`` adds ``"per_user": {"users": warm users, "ndcg@K": [...], "recall@K": [...]}``
    in ``protocol.warm_users`` order (what paired bootstrap intervals resample).
    """
    if not k_list or any(int(k) < 1 for k in k_list):
        raise ValueError(f"k_list: must hold positive integers, got {k_list!r}")
    k_list = tuple(int(k) for k in k_list)
    protocol = protocol or protocol_for(prepared, repeat_allowed=repeat_allowed)
    k_max = max(k_list)
    checks = {"repeated": 0, "excluded_recommended": 0, "outside_pool": 0, "short_lists": 0}
    total = len(protocol.warm_users) + len(protocol.cold_users)

    def sub_progress(offset: int) -> ProgressFn | None:
        if progress is None:
            return None
        return lambda done, _n: progress(offset + done, total)

    started = time.perf_counter()
    warm_lists = _collect(recommend_fn, protocol.warm_users, k_max, protocol.exclusions,
                          protocol.candidate_pool, batch_size, checks, sub_progress(0))
    cold_lists = _collect(recommend_fn, protocol.cold_users, k_max, {}, protocol.candidate_pool,
                          batch_size, checks, sub_progress(len(protocol.warm_users)))
    seconds = time.perf_counter() - started

    warm = {"users": len(protocol.warm_users)}
    warm.update(_accuracy(warm_lists, protocol.warm_users, protocol.targets, k_list))
    warm.update(_beyond_accuracy(warm_lists, protocol, k_list))
    cold = {"users": len(protocol.cold_users)}
    cold.update(_accuracy(cold_lists, protocol.cold_users, protocol.cold_targets, k_list))
    cold.update(_beyond_accuracy(cold_lists, protocol, k_list))
    result = {
        "protocol": prepared.split.protocol + protocol.name,
        "k": list(k_list),
        "warm": warm,
        "cold": cold,
        "checks": checks,
        "recommend_seconds": round(seconds, 3),
    }
    if per_user:
        values: dict[str, list] = {"users": list(protocol.warm_users)}
        for k in k_list:
            values[f"ndcg@{k}"] = [ndcg_at_k(r, protocol.targets[u], k)
                                   for r, u in zip(warm_lists, protocol.warm_users, strict=True)]
            values[f"recall@{k}"] = [recall_at_k(r, protocol.targets[u], k)
                                     for r, u in zip(warm_lists, protocol.warm_users, strict=True)]
        result["per_user"] = values
    return result
