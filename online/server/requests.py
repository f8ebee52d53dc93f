"""Validated, transport-free requests and replies (the servicer converts from/to protobuf)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fulcrum.core.rerank.reasons import Reason


@dataclass(frozen=True)
class Knobs:
    """Per-request overrides resolved against the server defaults."""

    exploration_share: float
    diversity: float
    allow_repurchase: bool
    seed: int | None  # None: random


@dataclass(frozen=True)
class RecommendQuery:
    user_id: str
    k: int
    session_items: tuple[str, ...]
    excludes: tuple[str, ...]
    knobs: Knobs


@dataclass(frozen=True)
class SearchQuery:
    query: str
    user_id: str | None
    k: int
    min_price: float | None
    max_price: float | None
    excludes: tuple[str, ...]
    knobs: Knobs


@dataclass(frozen=True)
class Scored:
    item_id: str
    score: float
    reason: Reason


@dataclass(frozen=True)
class Reply:
    items: list[Scored] = field(default_factory=list)
    bundle_version: str = ""
    degraded: bool = False
    degraded_reason: str = ""
