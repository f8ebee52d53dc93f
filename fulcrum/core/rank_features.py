"""The ranking head's input vector: one definition for training rows and live requests.

``rank_features`` turns (user profile, candidate items' statistics, retrieval scores) into the
float32 matrix the ranker (``ranker.onnx``, input ``features``) reads. Offline calls it with a
profile built from history before the label's time; online with the profile from Feast. Pure
numpy, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fulcrum.core.profile import UserProfile

RANK_FEATURES: tuple[str, ...] = (
    "retrieval_score",         # cosine(user embedding, item embedding)
    "log_user_purchases",      # log1p(purchase_count)
    "log_user_cancels",        # log1p(cancel_count)
    "user_cancel_rate",        # cancels / (purchases + cancels + 1)
    "log_user_days_inactive",  # log1p(days since last activity), 0 for cold users
    "log_user_distinct_items",  # log1p(distinct_items)
    "log_item_purchases",      # log1p(item purchases)
    "item_cancel_rate",        # item cancellations / (purchases + 1)
    "log_item_price",          # log1p(max(price, 0))
    "log_item_age_days",       # log1p(days since first seen), 0 if unknown
    "item_popularity_pct",     # 1 - rank / n_items: 1 = most popular
    "user_bought_item",        # 1 if the user bought this item before
    "user_cancelled_item",     # 1 if the user cancelled this item before
)
N_RANK_FEATURES = len(RANK_FEATURES)
_DAY = 86_400.0


@dataclass(frozen=True)
class ItemStats:
    """Statistics of a batch of candidate items, aligned with ``item_ids``."""

    item_ids: tuple[str, ...]
    purchases: np.ndarray     # float [N]
    cancel_rate: np.ndarray   # float [N]
    price: np.ndarray         # float [N]
    first_seen: np.ndarray    # float [N] epoch seconds, NaN if unknown
    popularity_pct: np.ndarray  # float [N] in [0, 1]


def rank_features(profile: UserProfile, items: ItemStats, scores: np.ndarray, now: float) -> np.ndarray:
    """Feature matrix [N, N_RANK_FEATURES] (float32) in ``RANK_FEATURES`` order; ``now`` in epoch s."""
    n = len(items.item_ids)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (n,):
        raise ValueError(f"scores has shape {scores.shape}, expected ({n},)")
    out = np.empty((n, N_RANK_FEATURES), dtype=np.float64)
    purchases, cancels = profile.purchase_count, profile.cancel_count
    inactive = 0.0 if profile.last_active is None else max(now - profile.last_active, 0.0) / _DAY
    out[:, 0] = scores
    out[:, 1] = np.log1p(purchases)
    out[:, 2] = np.log1p(cancels)
    out[:, 3] = cancels / (purchases + cancels + 1.0)
    out[:, 4] = np.log1p(inactive)
    out[:, 5] = np.log1p(profile.distinct_items)
    out[:, 6] = np.log1p(np.maximum(items.purchases, 0.0))
    out[:, 7] = items.cancel_rate
    out[:, 8] = np.log1p(np.maximum(items.price, 0.0))
    seen = np.nan_to_num(items.first_seen)
    age = np.where(np.isnan(items.first_seen), 0.0, np.maximum(now - seen, 0.0) / _DAY)
    out[:, 9] = np.log1p(age)
    out[:, 10] = items.popularity_pct
    out[:, 11] = [1.0 if i in profile.bought else 0.0 for i in items.item_ids]
    out[:, 12] = [1.0 if i in profile.cancelled else 0.0 for i in items.item_ids]
    return out.astype(np.float32)
