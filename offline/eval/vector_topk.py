"""Top-k recommendations from user and item vectors, as the evaluation harness calls them.

One implementation for every offline recommender that scores by a dot product (the trained
towers in a run folder, an exported bundle): users without a vector get the popularity list;
items outside ``allowed`` and the user's exclusions never appear.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np


def vector_top_k(
    user_ids: Sequence[str],
    k: int,
    exclude: Mapping[str, set[str]],
    *,
    user_vecs: Mapping[str, np.ndarray],
    item_vecs: np.ndarray,
    item_ids: Sequence[str],
    index: Mapping[str, int],
    allowed: np.ndarray,
    popular: Sequence[str],
    adjust: Callable[[str, np.ndarray], np.ndarray] | None = None,
) -> list[list[str]]:
    """``recommend_fn`` of offline.eval.harness over dot-product scores (ties keep item order);
    ``adjust(user id, scores) -> scores`` re-scores them first (the bundle's hybrid score)."""
    out = []
    for uid in user_ids:
        ban = exclude.get(uid, set())
        vec = user_vecs.get(str(uid))
        if vec is None:
            out.append([i for i in popular[: k + len(ban)] if i not in ban][:k])
            continue
        scores = item_vecs @ vec
        if adjust is not None:
            scores = np.asarray(adjust(str(uid), scores), dtype=np.float64)
        scores[~allowed] = -np.inf
        for item in ban:
            j = index.get(item)
            if j is not None:
                scores[j] = -np.inf
        top = np.argpartition(-scores, min(k, len(scores) - 1))[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        out.append([item_ids[j] for j in top if np.isfinite(scores[j])])
    return out
