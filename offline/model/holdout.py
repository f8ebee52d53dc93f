"""Evaluation of the two towers on a cut, used for the validation slice carved from the end of
train (and, as a self-check, on the test split).

The slice follows a protocol (``offline.model.validation_protocol``; the rules themselves are
``offline.eval.protocol``'s, shared with `fulcrum evaluate`): with ``purchases`` (the default),
warm users = users with a purchase before the cut and a target after it; targets = items they
purchase in the window that they had not purchased before the cut, which are never recommended;
candidates = items purchased before the cut. With ``interactions``, a user's past is every
positive behaviour, targets are all their purchases after the cut, nothing is excluded and the
candidates are the items with a positive behaviour before the cut. Metrics are averaged over
warm users: NDCG@K (binary gain, ideal over min(|targets|, K)), Recall@K (hits / min(|targets|,
K)); plus catalogue coverage@K and tail share@K (slots on items outside the protocol's head
items). The project's full evaluation lives in offline/eval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fulcrum.core.neighbour_source import INTERACTIONS
from offline.model.examples import user_histories
from offline.model.interactions import PURCHASE_CODE, Interactions
from offline.model.validation_protocol import PURCHASES, ValidationProtocol

#: user x item scores held at once while ranking (float64: 256 MiB)
_SCORE_CELLS = 1 << 25


def ndcg_recall(ranked: np.ndarray, targets: list[set[int]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-user NDCG@k and Recall@k for ``ranked`` [U, >=k] item indices (binary gain, ideal
    over min(|targets|, k)). One vectorised membership test for all users: the hybrid grid calls
    this once per grid point (1,890 points per epoch with the default repeat weights and shapes)."""
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    top = np.asarray(ranked, dtype=np.int64)[:, :k]
    sizes = np.array([len(t) for t in targets], dtype=np.int64)
    # (user, item) as one int64 key: user << 32 | item (item rows are far below 2^32)
    keys = np.fromiter((u << 32 | int(i) for u, tgt in enumerate(targets) for i in tgt),
                       dtype=np.int64, count=int(sizes.sum()))
    keys.sort()
    query = (np.arange(len(targets), dtype=np.int64)[:, None] << 32) | top
    at = np.minimum(np.searchsorted(keys, query), max(len(keys) - 1, 0))
    hits = (keys[at] == query if len(keys) else np.zeros(query.shape, dtype=bool)).astype(np.float64)
    m = np.minimum(sizes, k)
    ideal = np.concatenate([[0.0], np.cumsum(disc)])[m]
    return (hits * disc[: top.shape[1]]).sum(axis=1) / ideal, hits.sum(axis=1) / m


@dataclass
class DiscoverySlice:
    """One validation / test slice, prepared once under a protocol
    (``offline.model.validation_protocol``; default: purchases, discovery): its warm users (a
    seeded sample of at most ``max_users`` when > 0), their histories, neighbour sources,
    exclusions and targets, the candidate pool and the tail. Scoring several models (or several
    hybrid weightings of one model) on the same slice reuses all of it; users are scored in
    chunks of at most ``_SCORE_CELLS`` user x item scores."""

    warm: list[int]  # user indices with a target and a history before their cut
    at: np.ndarray  # [W] cut of each warm user
    hist: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # [W, T] items, types, ages, mask
    #: the hybrid's neighbour sources of each warm user: their purchases before their cut, plus
    #: under the interactions protocol their recent positive items (offline/model/slice_sources.py)
    bought: list[set[int]]
    targets: list[set[int]]
    seen: np.ndarray  # [N] bool: the candidate pool of the protocol
    is_tail: np.ndarray  # [N] bool
    #: items never recommended to each warm user (purchases: what they bought; interactions: none)
    excluded: list[set[int]] | None = None
    #: under the interactions protocol each warm user's profile before their cut (item ids: rows
    #: as strings), what the graded repeat term reads (fulcrum/core/repeat_term.py); else None
    profiles: list | None = None

    @classmethod
    def build(
        cls,
        inter: Interactions,
        at: float | np.ndarray,
        target_pairs: tuple[np.ndarray, np.ndarray],
        t_len: int,
        max_users: int = 0,
        seed: int = 0,
        protocol: ValidationProtocol = PURCHASES,
    ) -> DiscoverySlice:
        """Warm users, targets, exclusions, pool and head items come from
        ``offline.eval.protocol.build_protocol`` (what `fulcrum evaluate` scores with) over the
        events before ``at``; histories are every event of the user before it."""
        from offline.model.interactions import per_event
        from offline.model.slice_sources import slice_profiles, slice_sources
        from offline.model.validation_protocol import slice_protocol

        users, (h_items, h_types, h_age, h_mask) = user_histories(inter, at, t_len)
        at_u = np.full(len(inter.user_ids), float(at)) if np.ndim(at) == 0 else np.asarray(at, np.float64)
        proto = slice_protocol(inter, at, target_pairs, protocol)
        user_row = {u: j for j, u in enumerate(inter.user_ids.tolist())}
        item_row = {i: j for j, i in enumerate(inter.items["item_id"].astype(str).tolist())}

        def rows(ids) -> set[int]:
            return {item_row[i] for i in ids}

        purch = (inter.ev_time < per_event(inter, at)) & (inter.ev_type == PURCHASE_CODE)
        bought: dict[int, set[int]] = {}
        for u, i in zip(inter.ev_user[purch].tolist(), inter.ev_item[purch].tolist(), strict=True):
            bought.setdefault(u, set()).add(i)
        seen = np.zeros(inter.n_items, dtype=bool)
        seen[sorted(rows(proto.candidate_pool))] = True
        is_tail = np.ones(inter.n_items, dtype=bool)
        is_tail[sorted(rows(proto.head_items))] = False
        pos = {u: j for j, u in enumerate(users.tolist())}
        warm = sorted(user_row[u] for u in proto.warm_users if user_row[u] in pos)
        if 0 < max_users < len(warm):
            pick = np.random.default_rng(seed).choice(len(warm), size=max_users, replace=False)
            warm = [warm[j] for j in np.sort(pick)]
        ids = inter.user_ids
        hist_rows = np.array([pos[u] for u in warm], dtype=np.int64)
        at_w = at_u[np.asarray(warm, dtype=np.int64)]
        profiles = slice_profiles(inter, warm, at_w) if protocol.history == INTERACTIONS else None
        return cls(
            warm,
            at_u[np.asarray(warm, dtype=np.int64)],
            (h_items[hist_rows], h_types[hist_rows], h_age[hist_rows], h_mask[hist_rows]),
            slice_sources(inter, warm, at_w, [bought.get(u, set()) for u in warm], protocol.history,
                          profiles),
            [rows(proto.targets[ids[u]]) for u in warm],
            seen,
            is_tail,
            [rows(proto.exclusions[ids[u]]) for u in warm],
            profiles,
        )

    def chunks(self) -> list[slice]:
        """Row ranges of at most ``_SCORE_CELLS`` user x item scores (and 512 users) each."""
        step = max(1, min(512, _SCORE_CELLS // max(1, len(self.seen))))
        return [slice(s, s + step) for s in range(0, len(self.warm), step)]

    def cosine(self, item_vecs: np.ndarray, encode_users: Callable, rows: slice) -> np.ndarray:
        """[rows, N] user tower . item vectors for the warm users in ``rows``."""
        h_items, h_types, h_age, h_mask = (a[rows] for a in self.hist)
        return encode_users(item_vecs[h_items], h_types, h_age, h_mask) @ item_vecs.T

    def rank(self, scores: np.ndarray, rows: slice, k: int = 10) -> np.ndarray:
        """Top ``k`` item rows [rows, k] of ``scores`` (modified in place): unseen and bought
        items are never recommended."""
        scores[:, ~self.seen] = -np.inf
        excluded = self.bought if self.excluded is None else self.excluded
        for j, b in enumerate(excluded[rows]):
            scores[j, list(b)] = -np.inf
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, 1), axis=1)
        return np.take_along_axis(top, order, 1)

    def metrics(self, ranked: np.ndarray, k: int = 10) -> dict[str, float]:
        """Discovery metrics of ``ranked`` [W, k] (every warm user's top k, in order)."""
        if not self.warm:
            return {"users": 0.0, "ndcg@10": 0.0, "recall@10": 0.0, "coverage@10": 0.0, "tail_share@10": 0.0}
        ndcg, recall = ndcg_recall(ranked, self.targets, k)
        return {
            "users": float(len(self.warm)),
            f"ndcg@{k}": float(ndcg.mean()),
            f"recall@{k}": float(recall.mean()),
            f"coverage@{k}": float(len(np.unique(ranked)) / max(1, self.seen.sum())),
            f"tail_share@{k}": float(self.is_tail[ranked].mean()),
        }


def discovery_eval(
    inter: Interactions,
    item_vecs: np.ndarray,
    encode_users: Callable,
    at: float | np.ndarray,
    target_pairs: tuple[np.ndarray, np.ndarray],
    t_len: int,
    k: int = 10,
    adjust: Callable[[np.ndarray, list[set[int]], np.ndarray], np.ndarray] | None = None,
    max_users: int = 0,
    seed: int = 0,
    protocol: ValidationProtocol = PURCHASES,
) -> dict[str, float]:
    """``encode_users(hist_emb, hist_type, hist_age, hist_mask) -> [B, D]``; ``target_pairs`` =
    (user index, item index) purchases after the cut. ``at`` is one cut for everyone (a time
    split) or one per user ([U]; leave-last-out: each user's own held-out basket).
    ``adjust(scores [B, N], bought item rows of each user, cut of each row [B]) -> scores`` turns
    the cosine scores into another score (the hybrid) before the cut.

    ``max_users`` > 0 scores a seeded sample of that many warm users (the same sample for the
    same data and seed, so epochs and grid points stay comparable); users are scored in chunks
    of at most ``_SCORE_CELLS`` user x item scores, so memory does not grow with the catalogue."""
    sl = DiscoverySlice.build(inter, at, target_pairs, t_len, max_users, seed, protocol)
    return slice_metrics(sl, item_vecs, encode_users, k, adjust)


def slice_metrics(
    sl: DiscoverySlice,
    item_vecs: np.ndarray,
    encode_users: Callable,
    k: int = 10,
    adjust: Callable[[np.ndarray, list[set[int]], np.ndarray], np.ndarray] | None = None,
) -> dict[str, float]:
    """``discovery_eval`` on a slice built once (per epoch on the same validation slice)."""
    if not sl.warm:
        return sl.metrics(np.zeros((0, k), dtype=np.int64), k)
    ranked = []
    for rows in sl.chunks():
        scores = sl.cosine(item_vecs, encode_users, rows)
        if adjust is not None and sl.profiles is not None:  # the graded repeat term reads them
            scores = adjust(scores, sl.bought[rows], sl.at[rows], sl.profiles[rows])
        elif adjust is not None:
            scores = adjust(scores, sl.bought[rows], sl.at[rows])
        ranked.append(sl.rank(scores, rows, k))
    return sl.metrics(np.concatenate(ranked), k)
