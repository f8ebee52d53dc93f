"""Recommend: profile -> user encoder -> retrieve -> rank -> re-rank, or the documented fallbacks.

Warm user: the user encoder reads the stored history plus the session items; candidates come
from the catalogue's retrieval score (``Catalogue.retrieval_scores``: the bundle's hybrid score
of fulcrum/core/hybrid.py, or the dot product for a bundle without one); ``fulcrum.core.rerank.ordering``
scores them as the config's ``ranking_mode`` says (retrieval score by default; the ranking head's
purchase_prob, or a blend, minus ``cancel_risk_weight`` x cancel_prob; the head runs only when
needed, on the cosine); MMR orders them; Thompson sampling fills the exploration slots. Cold user
(no known stored history): "popular now" (the bundle's trend prior, ties by popularity) mixed
with the session's context, plus exploration. Feature store down or slow: popular-now from the
bundle, ``degraded``.
"""

from __future__ import annotations

import time

import numpy as np

from fulcrum.core.blocked_rows import BlockedRows
from fulcrum.core.bundle.catalogue import Catalogue
from fulcrum.core.errors import FeatureStoreUnavailable, fallback_reason
from fulcrum.core.profile import UserProfile
from fulcrum.core.rank_features import rank_features
from fulcrum.core.rerank.diversity import mmr, mmr_pool
from fulcrum.core.rerank.exploration import exploration_count, exploration_positions, thompson_sample
from fulcrum.core.rerank.ordering import needs_ranker, ordering_scores
from fulcrum.core.rerank.reasons import Reason
from fulcrum.core.rerank.slots import fill_slots
from fulcrum.core.rerank.tail_boost import tail_boosted
from online.config import ServeConfig
from online.inference.cold_candidates import cold_candidates
from online.inference.exploration_pool import exploration_pool
from online.inference.model import ServingModel
from online.server import metrics
from online.server.profile_rows import ProfileRows, ProfileRowsCache
from online.server.profiles import fetch_profile, history_for, with_session
from online.server.requests import Knobs, RecommendQuery, Reply, Scored
from online.server.user_vectors import UserVectorCache

EXPLORATION_POOL = 128
#: unseeded requests share one generator (used on the event-loop thread only)
_RNG = np.random.default_rng()
COLD_CONTEXT_WEIGHT = 0.5


def popularity_fallback(cat: Catalogue, excludes: tuple[str, ...], k: int, version: str, why: str) -> Reply:
    blocked = set(cat.indices(excludes).tolist())
    rows = [r for r in cat.popular_now_order[: k + len(excludes)].tolist() if r not in blocked][:k]
    pct = cat.popular_now_pct
    items = [Scored(str(cat.item_ids[r]), float(pct[r]), Reason.POPULAR) for r in rows]
    return Reply(items, version, degraded=True, degraded_reason=why)


def _explore(
    cat: Catalogue,
    blocked: BlockedRows,
    exploit: list[int],
    extra_pool: np.ndarray,
    n: int,
    rng: np.random.Generator,
    new_item_threshold: int,
) -> tuple[list[int], dict[int, Scored]]:
    """Thompson-sampled rows outside the exploitation list: retrieval leftovers + new items."""
    if n <= 0:
        return [], {}
    # new items and retrieval leftovers, a random subset, without a pass over the catalogue
    exploit_rows = np.asarray(exploit, dtype=np.int64)
    pool = exploration_pool(cat, blocked, exploit_rows, extra_pool, new_item_threshold, rng, EXPLORATION_POOL)
    picks = pool[thompson_sample(cat.purchases[pool], cat.impressions[pool], n, rng)]
    scored = {}
    for r in picks:
        trials = max(cat.impressions[r], cat.purchases[r])
        mean = (1.0 + cat.purchases[r]) / (2.0 + trials)
        reason = Reason.NEW_ITEM if trials < new_item_threshold else Reason.EXPLORATION
        scored[int(r)] = Scored(str(cat.item_ids[r]), float(mean), reason)
    return [int(r) for r in picks], scored


async def _warm_exploit(
    model: ServingModel,
    cat: Catalogue,
    profile: UserProfile,
    user: np.ndarray,
    blocked: BlockedRows,
    derived: ProfileRows,
    k: int,
    knobs: Knobs,
    config: ServeConfig,
    now: float,
) -> tuple[list[int], dict, np.ndarray]:
    # cosine = the towers' score (a ranking feature); scores = the bundle's retrieval score
    # (over the ANN pool on a big catalogue: Catalogue.retrieve)
    cand, cosine, scores = cat.retrieve(
        user, max(config.retrieval_candidates, k), blocked, derived.sources, derived.prior, derived.own
    )
    if len(cand) == 0:
        return [], {}, cand
    purchase = cancel = None
    if needs_ranker(config.ranking_mode, config.cancel_risk_weight):
        purchase, cancel = await model.rank(rank_features(profile, cat.item_stats(cand), cosine, now))
    relevance = ordering_scores(
        scores,
        purchase,
        cancel,
        mode=config.ranking_mode,
        blend_weight=config.blend_weight,
        cancel_risk_weight=config.cancel_risk_weight,
    )
    if config.tail_boost > 0:
        relevance = tail_boosted(relevance, cat.is_tail[cand], config.tail_boost)
    pool = mmr_pool(relevance, k)
    order = pool[mmr(relevance[pool], cat.embeddings[cand[pool]], k, knobs.diversity)]
    rows = [int(cand[i]) for i in order]
    scored = {
        int(cand[i]): Scored(str(cat.item_ids[cand[i]]), float(relevance[i]), Reason.PERSONALISED)
        for i in order
    }
    return rows, scored, cand


def _cold_exploit(
    cat: Catalogue, session_rows: np.ndarray, blocked: BlockedRows, k: int, knobs: Knobs, config: ServeConfig
) -> tuple[list[int], dict, np.ndarray]:
    # popular now mixed with the session's context, without a catalogue pass where it can
    # (online/inference/cold_candidates.py)
    cand, scores = cold_candidates(
        cat, session_rows, max(config.retrieval_candidates, k), blocked, COLD_CONTEXT_WEIGHT
    )
    pool = mmr_pool(scores, k)
    order = pool[mmr(scores[pool], cat.embeddings[cand[pool]], k, knobs.diversity)]
    rows = [int(cand[i]) for i in order]
    scored = {
        int(cand[i]): Scored(str(cat.item_ids[cand[i]]), float(scores[i]), Reason.COLD_START) for i in order
    }
    return rows, scored, cand


async def recommend(
    model: ServingModel,
    source,
    executor,
    config: ServeConfig,
    q: RecommendQuery,
    budget_s: float,
    rows_cache: ProfileRowsCache | None = None,
    vectors: UserVectorCache | None = None,
) -> Reply:
    """``rows_cache``: the server's ``ProfileRowsCache`` (None: derive the user's rows afresh);
    ``vectors``: its ``UserVectorCache`` (None: run the user tower on every request)."""
    cat = model.catalogue.current
    now = time.time()
    timeout = min(config.feature_timeout_ms / 1000.0, budget_s * 0.5)
    try:
        stored = await fetch_profile(source, q.user_id, timeout, executor)
    except FeatureStoreUnavailable as e:
        why = fallback_reason(e)
        metrics.FALLBACKS.labels("Recommend", why).inc()
        return popularity_fallback(cat, q.excludes + q.session_items, q.k, model.version, why)
    profile = with_session(stored, q.session_items, now)
    # the stored profile's rows (a heavy buyer has thousands of bought ids) and hybrid prior, kept
    # per stored row and snapshot (online/server/profile_rows.py); the session only adds history
    cache = rows_cache if rows_cache is not None else ProfileRowsCache(0)
    derived = cache.get(cat, stored, config.ignored_impressions_threshold)
    # cancelled, disliked, ignored, excluded, the session's own items (+ purchases unless allowed):
    # a small sorted row array, not a mask over the catalogue (fulcrum/core/blocked_rows.py)
    bought = derived.bought if not q.knobs.allow_repurchase else derived.bought[:0]
    blocked = BlockedRows.of(len(cat), derived.others, cat.rows_of(q.excludes + q.session_items), bought)
    rng = np.random.default_rng(q.knobs.seed) if q.knobs.seed is not None else _RNG
    n_explore = exploration_count(q.k, q.knobs.exploration_share)
    history_len = model.bundle.user_encoder.history_length
    if not any(item in cat.index for item in stored.recent_items):  # cold: nothing known about the user
        rows, scored, cand = _cold_exploit(cat, cat.indices(q.session_items), blocked, q.k, q.knobs, config)
    else:
        # the tower's output for this stored row + session, computed at most the cache's reuse
        # window ago (online/server/user_vectors.py), else computed now
        user = vectors.get(cat, stored, q.session_items, now) if vectors is not None else None
        if user is None:
            history = history_for(profile, cat, now, history_len)
            if history is None:  # cannot happen: this branch has a stored item the catalogue knows
                raise RuntimeError(f"user {q.user_id!r}: warm path without a known history item")
            user = await model.encode_user(history)
            if vectors is not None:
                user = vectors.put(cat, stored, q.session_items, now, user)
        rows, scored, cand = await _warm_exploit(
            model,
            cat,
            profile,
            user,
            blocked,
            derived,
            q.k,
            q.knobs,
            config,
            now,
        )
    picks, explored = _explore(
        cat, blocked, rows[: q.k - n_explore], cand, n_explore, rng, config.new_item_impressions
    )
    final = fill_slots(rows, picks, exploration_positions(q.k, len(picks)), q.k)
    scored.update(explored)
    return Reply([scored[r] for r in final], model.version)
