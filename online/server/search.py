"""Search: encode the query with the item encoder, retrieve, personalise, filter, diversify.

Relevance is the query-item cosine against the item encoder's own text vectors
(``Catalogue.search_embeddings``), plus ``search_lexical_weight`` x the share of the query's words
the item's text contains (online/inference/lexical.py), plus ``search_personalisation`` x
user-item cosine when a known user is given. The user's anti-recommendation rules and the
request's filters (price range, excludes) remove items before ranking. With a known user,
``ranking_mode`` "ranker"/"blend" or a positive ``cancel_risk_weight`` also run the ranking head on
the candidates (``online.rerank.ordering``); without one (or by default) the order is the
relevance above. A feature-store failure only drops the personalisation (``degraded`` is set); the
query match still answers.
"""

from __future__ import annotations

import time

import numpy as np

from fulcrum.core.rank_features import rank_features
from online.config import ServeConfig
from online.errors import FeatureStoreUnavailable, fallback_reason
from online.inference.catalogue import Catalogue
from online.inference.model import ServingModel
from online.inference.retrieval import blocked_mask, top_candidates
from online.rerank.anti_recommendation import blocked_items
from online.rerank.diversity import mmr, mmr_pool
from online.rerank.ordering import needs_ranker, ordering_scores
from online.rerank.reasons import Reason
from online.server import metrics
from online.server.profiles import fetch_profile, history_for
from online.server.requests import Reply, Scored, SearchQuery


def price_blocked(cat: Catalogue, lo: float | None, hi: float | None) -> np.ndarray:
    """Rows outside [lo, hi]; an unknown price fails any price filter."""
    bad = np.zeros(len(cat), dtype=bool)
    if lo is None and hi is None:
        return bad
    price = cat.price
    bad |= np.isnan(price)
    if lo is not None:
        bad |= price < lo
    if hi is not None:
        bad |= price > hi
    return bad


async def search(
    model: ServingModel, source, executor, config: ServeConfig, q: SearchQuery, budget_s: float
) -> Reply:
    cat = model.catalogue.current
    now = time.time()
    query_vec = await model.encode_query(q.query)
    excludes = set(q.excludes)
    degraded, why, user_vec = False, "", None
    if q.user_id is not None:
        timeout = min(config.feature_timeout_ms / 1000.0, budget_s * 0.5)
        try:
            profile = await fetch_profile(source, q.user_id, timeout, executor)
            excludes |= blocked_items(profile, q.knobs.allow_repurchase, config.ignored_impressions_threshold)
            history = history_for(profile, cat, now, model.bundle.user_encoder.history_length)
            if history is not None and config.search_personalisation > 0:
                user_vec = await model.encode_user(history)
        except FeatureStoreUnavailable as e:
            degraded = True
            why = fallback_reason(e)
            metrics.FALLBACKS.labels("Search", why).inc()
    relevance = cat.search_embeddings @ query_vec
    if config.search_lexical_weight > 0:
        relevance = relevance + config.search_lexical_weight * cat.word_index.overlap(q.query)
    if user_vec is not None:
        relevance = relevance + config.search_personalisation * (cat.embeddings @ user_vec)
    blocked = blocked_mask(len(cat), cat.indices(sorted(excludes))) | price_blocked(
        cat, q.min_price, q.max_price
    )
    cand = top_candidates(relevance, max(config.retrieval_candidates, q.k), blocked)
    purchase = cancel = None
    mode = "retrieval"
    if user_vec is not None and len(cand) and needs_ranker(config.ranking_mode, config.cancel_risk_weight):
        # the ranking head needs a known user: its retrieval feature is the user-item score
        user_sims = cat.embeddings[cand] @ user_vec
        purchase, cancel = await model.rank(rank_features(profile, cat.item_stats(cand), user_sims, now))
        mode = config.ranking_mode
    score = ordering_scores(
        relevance[cand],
        purchase,
        cancel,
        mode=mode,
        blend_weight=config.blend_weight,
        cancel_risk_weight=config.cancel_risk_weight if cancel is not None else 0.0,
    )
    pool = mmr_pool(score, q.k)
    order = pool[mmr(score[pool], cat.embeddings[cand[pool]], q.k, q.knobs.diversity)]
    items = [Scored(str(cat.item_ids[cand[i]]), float(score[i]), Reason.QUERY_MATCH) for i in order]
    return Reply(items, model.version, degraded, why)
