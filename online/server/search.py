"""Search: analyse and correct the query, BM25 + dense retrieval, fuse, personalise, filter.

The scoring is ``fulcrum.core.search.engine`` -- the same function `fulcrum evaluate-search`
measures -- over the live catalogue snapshot: BM25 over the catalogue's lexical index
(fulcrum/core/bundle/lexical.py), the query-item cosine in the catalogue's search space
(``Catalogue.search_embeddings``: the item encoder's pooled text space when the bundle has one,
fulcrum/core/search/space.py; the query encoder sees the spelling-corrected query), fused by
``search_fusion`` (weighted by default), then moved by at most ``search_personalisation`` of the
query's score spread toward a known user's taste. A query word the catalogue lacks is encoded
too (in the same micro-batch as the query) and replaced in the lexical query by the catalogue
word nearest in meaning, when near enough (fulcrum/core/search/synonyms.py); one still unknown
before a head word the catalogue knows ("toiletry bag") by the catalogue compound of that head
nearest to the query (fulcrum/core/search/compounds.py). The user's
anti-recommendation rules and the request's filters (price range, excludes) remove items
before fusion. With a known user, ``ranking_mode`` "ranker"/"blend" or a positive
``cancel_risk_weight`` order the candidates with the ranking head (``fulcrum.core.rerank.ordering``).

The reply's ``score`` is what ordered the reply: the fused (personalised) relevance, or the
ranking head's ordering score in those modes; it never increases down the list. Search does not
apply MMR diversity (a query states what the shopper wants; the ``diversity`` option is for
Recommend). A feature-store failure only drops the personalisation (``degraded`` is set).
"""

from __future__ import annotations

import asyncio
import time
from functools import partial

import numpy as np

from fulcrum.core.blocked_rows import BlockedRows
from fulcrum.core.bundle.catalogue import Catalogue
from fulcrum.core.errors import FeatureStoreUnavailable, fallback_reason
from fulcrum.core.rank_features import rank_features
from fulcrum.core.rerank.anti_recommendation import blocked_items
from fulcrum.core.rerank.ordering import needs_ranker, ordering_scores
from fulcrum.core.rerank.reasons import Reason
from fulcrum.core.search.adapter import adapt
from fulcrum.core.search.engine import (
    SearchSettings,
    prepare_query,
    rank,
    with_compound_stand_in,
    with_stand_ins,
)
from fulcrum.core.search.fusion import Fusion
from online.config import ServeConfig
from online.inference.model import ServingModel
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


def rows_affinity(embeddings: np.ndarray, user_vec: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Cosine of the user's vector with the vectors of ``rows``."""
    return embeddings[rows] @ user_vec


def search_settings(config: ServeConfig) -> SearchSettings:
    """The serving config's Search fields as the engine's settings."""
    return SearchSettings(
        fusion=Fusion(
            config.search_fusion,
            config.search_lexical_weight,
            config.search_rrf_k,
            config.search_depth,
            config.search_coverage_weight,
            config.search_coverage_idf,
        ),
        personalisation=config.search_personalisation,
        dense_only_for_unknown_words=config.search_dense_only_for_unknown_words,
    )


async def search(
    model: ServingModel, source, executor, config: ServeConfig, q: SearchQuery, budget_s: float
) -> Reply:
    cat = model.catalogue.current
    now = time.time()
    prepared = prepare_query(cat.lexical, q.query)
    unknown = prepared.unknown if cat.word_neighbours is not None else []
    vecs = await asyncio.gather(
        *(model.encode_search_query(t, config.search_query_cache) for t in (prepared.dense_text, *unknown))
    )
    query_vec = adapt(vecs[0], cat.query_adapter)  # the search-log adapter, when the bundle has one
    if unknown and cat.word_neighbours is not None:
        found = {w: cat.word_neighbours.nearest(v) for w, v in zip(unknown, vecs[1:], strict=True)}
        prepared = with_stand_ins(cat.lexical, prepared, {w: c for w, c in found.items() if c})
        prepared = with_compound_stand_in(cat.lexical, prepared, cat.word_neighbours, query_vec)
    excludes = set(q.excludes)
    degraded, why, user_vec, profile = False, "", None, None
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
    # the excluded rows as a small sorted array; a price filter is a predicate over the catalogue
    # (one vectorised pass, only when the request has one): fulcrum/core/blocked_rows.py
    blocked = BlockedRows.of(len(cat), cat.indices(sorted(excludes)))
    if q.min_price is not None or q.max_price is not None:
        blocked = blocked.union(BlockedRows.of_mask(price_blocked(cat, q.min_price, q.max_price)))
    # over the ANN pool on a big catalogue (Catalogue.search_dense)
    dense, dense_pool = cat.search_dense(query_vec, config.search_depth, blocked)
    # the user's taste for the fused candidates only (not a product with every catalogue row)
    affinity = None if user_vec is None else partial(rows_affinity, cat.embeddings, user_vec)
    cand, score = rank(cat.lexical, prepared, dense, search_settings(config), blocked, affinity, dense_pool)
    ranked = needs_ranker(config.ranking_mode, config.cancel_risk_weight)
    if user_vec is not None and profile is not None and len(cand) and ranked:
        # the ranking head needs a known user: its retrieval feature is the user-item score
        cand, score = cand[: config.retrieval_candidates], score[: config.retrieval_candidates]
        user_sims = cat.embeddings[cand] @ user_vec
        purchase, cancel = await model.rank(rank_features(profile, cat.item_stats(cand), user_sims, now))
        score = ordering_scores(
            score,
            purchase,
            cancel,
            mode=config.ranking_mode,
            blend_weight=config.blend_weight,
            cancel_risk_weight=config.cancel_risk_weight,
        )
        order = np.lexsort((cand, -score))
        cand, score = cand[order], score[order]
    items = [
        Scored(str(cat.item_ids[r]), float(s), Reason.QUERY_MATCH)
        for r, s in zip(cand[: q.k], score[: q.k], strict=True)
    ]
    return Reply(items, model.version, degraded, why)
