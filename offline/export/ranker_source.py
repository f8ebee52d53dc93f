"""Where the bundle's ranking head comes from.

``source`` (the training config's ``ranker``):
- ``ranking``: the ranking head, ``offline.ranking.train.train_ranker(data_dir, config,
  score_fn=<two-tower scorer>)`` -> ``TrainedRanker.module`` (features [B, F] ->
  (purchase_prob [B], cancel_prob [B])). A head that cannot be trained (no labels, no validation
  purchases, a failed fit) raises ``StageError`` naming the cause and ``--no-ranker``: there is
  no fallback model.
- ``off``: switched off by the user (``fulcrum train --no-ranker``). The bundle's ranker.onnx
  then returns 0 for both heads, and the run, the manifest (``metrics.stages``) and the report
  say the head is off; serve it with ``ranking_mode: retrieval`` (the default).

``rank_feature_samples`` draws real feature rows (train histories, their next item and a random
one) for the export's ONNX parity checks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fulcrum.core.profile import UserProfile
from fulcrum.core.rank_features import N_RANK_FEATURES, ItemStats, rank_features
from fulcrum.core.schema import EVENT_TYPE_CODE

log = logging.getLogger(__name__)
_CODE_NAME = {v: k for k, v in EVENT_TYPE_CODE.items()}


class OffRanker(nn.Module):
    """The ranker.onnx of a bundle whose ranking head was switched off: both outputs are 0."""

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        zero = features[:, 0] * 0.0
        return zero, zero


@dataclass
class RankerResult:
    module: nn.Module
    source: str
    metrics: dict[str, Any] = field(default_factory=dict)
    note: str = ""


def rank_feature_samples(inter, item_stats, scorer, rng: np.random.Generator, n_users: int = 300):
    """(features [R, F], next-item indicator [R], later-cancel indicator [R]) from train-split
    histories: realistic inputs for the export's parity checks (not training labels)."""
    ids = item_stats["item_id"].astype(str).tolist()
    first = item_stats["first_seen"]
    first_s = np.array(
        [t.timestamp() if t is not None and t == t else np.nan for t in first], dtype=np.float64
    )
    n = len(ids)
    pop = 1.0 - item_stats["popularity_rank"].to_numpy(np.float64) / max(1, n)
    users = rng.choice(len(inter.user_ids), size=min(n_users, len(inter.user_ids)), replace=False)
    xs, yp, yc = [], [], []
    for u in users.tolist():
        sl = inter.user_slice(u)
        items, codes, ts = inter.ev_item[sl], inter.ev_type[sl], inter.ev_time[sl]
        if len(items) < 2:
            continue
        cut = int(rng.integers(1, len(items)))
        prof = UserProfile(
            user_id=str(inter.user_ids[u]),
            recent_items=tuple(ids[i] for i in items[:cut]),
            recent_types=tuple(_CODE_NAME[c] for c in codes[:cut]),
            recent_times=tuple(ts[:cut].tolist()),
            purchase_count=float((codes[:cut] == EVENT_TYPE_CODE["PURCHASE"]).sum()),
            cancel_count=float((codes[:cut] == EVENT_TYPE_CODE["CANCEL"]).sum()),
            distinct_items=float(len(set(items[:cut].tolist()))),
            last_active=float(ts[cut - 1]),
            bought=frozenset(
                ids[i]
                for i, c in zip(items[:cut], codes[:cut], strict=True)
                if c == EVENT_TYPE_CODE["PURCHASE"]
            ),
        )
        cand = np.array([items[cut], int(rng.integers(0, n))])
        stats = ItemStats(
            item_ids=tuple(ids[i] for i in cand),
            purchases=item_stats["purchases"].to_numpy()[cand],
            cancel_rate=item_stats["cancel_rate"].to_numpy()[cand],
            price=item_stats["price"].to_numpy(np.float64)[cand],
            first_seen=first_s[cand],
            popularity_pct=pop[cand],
        )
        scores = scorer([prof], [stats.item_ids])[0]
        xs.append(rank_features(prof, stats, scores, now=float(ts[cut])))
        yp += [1.0, 0.0]
        later_cancel = codes[cut:] == EVENT_TYPE_CODE["CANCEL"]
        yc += [float(items[cut] in set(items[cut:][later_cancel].tolist())), 0.0]
    if not xs:
        return np.zeros((0, N_RANK_FEATURES), np.float32), np.zeros(0), np.zeros(0)
    return np.concatenate(xs), np.asarray(yp), np.asarray(yc)


SOURCES = ("ranking", "off")
OFF_NOTE = (
    "switched off (--no-ranker): ranker.onnx returns 0 for both heads; serve with ranking_mode retrieval"
)


def build_ranker(
    source: str, data_dir: Path, inter, item_stats, scorer, seed: int, ranker_config: dict | None = None
) -> RankerResult:
    from offline.stage_error import StageError

    if source not in SOURCES:
        raise ValueError(f"ranker source {source!r}: expected one of {SOURCES}")
    if source == "off":
        heads = {"purchase": "off", "cancel": "off"}
        return RankerResult(OffRanker().eval(), "off", {"heads": heads}, OFF_NOTE)
    from offline.ranking.train import train_ranker

    try:
        trained = train_ranker(
            data_dir, dict(ranker_config or {}), score_fn=scorer, scorer_name=f"two-tower-{seed}"
        )
    except StageError:
        raise
    except Exception as e:
        raise StageError(
            "ranking head", f"the fit failed: {type(e).__name__}: {e}",
            "check ranker_config in the training config, or switch the head off with `--no-ranker`",
        ) from e
    note = f"method={trained.config.method}"
    return RankerResult(trained.module.eval(), "ranking", dict(trained.metrics), note)
