"""Training step: metrics on the test split under the run's validation protocol
(``RunData.protocol``) -- reported in run.json, never used for a choice. Test purchases of users
or items unknown to train are left out."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from offline.model.steps.data import RunData
from offline.model.steps.hybrid import HybridChoice
from offline.model.steps.towers import Towers
from offline.train_config import TrainConfig


@dataclass(frozen=True)
class SelfCheck:
    towers: dict[str, float] = field(default_factory=dict)  # the item vectors alone
    hybrid: dict[str, float] = field(default_factory=dict)  # with the hybrid score ({} when off)


def selfcheck_on_test(
    data: RunData,
    item_vecs: np.ndarray,
    towers: Towers,
    cfg: TrainConfig,
    hybrid: HybridChoice,
    hybrid_parts,
) -> SelfCheck:
    inter = data.inter
    if not len(inter.test):
        return SelfCheck()
    from offline.model.holdout import discovery_eval

    index = {i: j for j, i in enumerate(inter.items["item_id"].tolist())}
    users = {u: j for j, u in enumerate(inter.user_ids.tolist())}
    tp = inter.test[inter.test["event_type"] == "PURCHASE"]
    keep = tp["user_id"].astype(str).isin(users) & tp["item_id"].astype(str).isin(index)
    tp = tp[keep]
    pairs_t = (
        tp["user_id"].astype(str).map(users).to_numpy(np.int64),
        tp["item_id"].astype(str).map(index).to_numpy(np.int64),
    )
    plain = discovery_eval(
        inter, item_vecs, towers.encode_users, inter.test_at, pairs_t, cfg.user.history_len,
        protocol=data.protocol,
    )
    with_hybrid: dict[str, float] = {}
    if hybrid_parts is not None and hybrid.weights is not None:
        from offline.model.hybrid_fit import bought_scores
        from offline.model.trend_prior import trend_source

        p = data.purchases
        trend = trend_source(
            inter, inter.ev_user[p], inter.ev_item[p], inter.ev_time[p], cfg.retrieval.hybrid.trend_days,
        )
        with_hybrid = discovery_eval(
            inter, item_vecs, towers.encode_users, inter.test_at, pairs_t, cfg.user.history_len,
            adjust=bought_scores(hybrid_parts[0], trend, hybrid.weights), protocol=data.protocol,
        )
    return SelfCheck(plain, with_hybrid)
