"""Request validation: protobuf request -> validated query, or ``InvalidArgument`` naming the field."""

from __future__ import annotations

import math
from collections.abc import Sequence

from fulcrum.core.errors import InvalidArgument
from fulcrum.core.schema import MAX_ID_LENGTH
from fulcrum.v1 import recommender_pb2 as pb
from online.config import ServeConfig
from online.server.requests import Knobs, RecommendQuery, SearchQuery


def check_id(value: str, field: str) -> str:
    if not value or not value.strip():
        raise InvalidArgument(field, "must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidArgument(field, f"is {len(value)} characters, at most {MAX_ID_LENGTH} allowed")
    return value


def check_ids(values: Sequence[str], field: str, limit: int) -> tuple[str, ...]:
    if len(values) > limit:
        raise InvalidArgument(field, f"has {len(values)} ids, at most {limit} allowed")
    return tuple(check_id(v, f"{field}[{i}]") for i, v in enumerate(values))


def check_k(k: int, config: ServeConfig) -> int:
    if k <= 0 or k > config.max_k:
        raise InvalidArgument("k", f"is {k}, must be in 1..{config.max_k}")
    return k


def knobs(options: pb.RecommendOptions, config: ServeConfig) -> Knobs:
    share = config.exploration_share
    if options.HasField("exploration_share"):
        share = options.exploration_share
        if not (math.isfinite(share) and 0.0 <= share <= 1.0):
            raise InvalidArgument("options.exploration_share", f"is {share}, must be in [0, 1]")
    diversity = config.diversity
    if options.HasField("diversity"):
        diversity = options.diversity
        if not (math.isfinite(diversity) and 0.0 <= diversity <= 1.0):
            raise InvalidArgument("options.diversity", f"is {diversity}, must be in [0, 1]")
    repurchase = options.allow_repurchase if options.HasField("allow_repurchase") else config.allow_repurchase
    return Knobs(float(share), float(diversity), bool(repurchase), int(options.seed) or None)


def recommend_query(req: pb.RecommendRequest, config: ServeConfig) -> RecommendQuery:
    return RecommendQuery(
        user_id=check_id(req.user_id, "user_id"),
        k=check_k(req.k, config),
        session_items=check_ids(req.session_item_ids, "session_item_ids", config.max_session_items),
        excludes=check_ids(req.exclude_item_ids, "exclude_item_ids", config.max_exclude_items),
        knobs=knobs(req.options, config),
    )


def _price(filters: pb.SearchFilters, name: str) -> float | None:
    if not filters.HasField(name):
        return None
    value = getattr(filters, name)
    if not math.isfinite(value) or value < 0:
        raise InvalidArgument(f"filters.{name}", f"is {value}, must be a finite number >= 0")
    return float(value)


def search_query(req: pb.SearchRequest, config: ServeConfig) -> SearchQuery:
    if not req.query.strip():
        raise InvalidArgument("query", "must not be empty")
    if len(req.query) > config.max_query_length:
        raise InvalidArgument(
            "query", f"is {len(req.query)} characters, at most {config.max_query_length} allowed"
        )
    lo, hi = _price(req.filters, "min_price"), _price(req.filters, "max_price")
    if lo is not None and hi is not None and lo > hi:
        raise InvalidArgument("filters.min_price", f"{lo} is above filters.max_price {hi}")
    return SearchQuery(
        query=req.query,
        user_id=check_id(req.user_id, "user_id") if req.user_id else None,
        k=check_k(req.k, config),
        min_price=lo,
        max_price=hi,
        excludes=check_ids(
            req.filters.exclude_item_ids, "filters.exclude_item_ids", config.max_exclude_items
        ),
        knobs=knobs(req.options, config),
    )
