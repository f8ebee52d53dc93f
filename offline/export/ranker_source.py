"""Where the bundle's ranking head comes from.

``source``:
- ``ranking``: the ranking engineer's head, ``offline.ranking.train.train_ranker(data_dir,
  config, score_fn=<two-tower scorer>)`` -> ``TrainedRanker.module`` (features [B, F] ->
  (purchase_prob [B], cancel_prob [B])); errors propagate;
- ``placeholder``: a small MLP over the N_RANK_FEATURES vector with two sigmoid outputs, trained
  for a few steps on simple rows (train-split next purchases vs random items) so the bundle is
  complete before/without the real head;
- ``auto``: ``ranking`` when offline.ranking.train is importable and succeeds, else the
  placeholder (the reason is logged and recorded in the manifest).
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


class PlaceholderRanker(nn.Module):
    def __init__(self, n_features: int = N_RANK_FEATURES, hidden: int = 32) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        self.net = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = torch.sigmoid(self.net((features - self.mean) / self.std))
        return p[:, 0], p[:, 1]


@dataclass
class RankerResult:
    module: nn.Module
    source: str
    metrics: dict[str, Any] = field(default_factory=dict)
    note: str = ""


def placeholder_rows(inter, item_stats, scorer, rng: np.random.Generator, n_users: int = 300):
    """(features [R, F], purchase label [R], cancel label [R]) from train-split histories."""
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


def train_placeholder(
    x: np.ndarray, yp: np.ndarray, yc: np.ndarray, seed: int, steps: int = 200
) -> PlaceholderRanker:
    torch.manual_seed(seed)
    m = PlaceholderRanker()
    if len(x):
        std = x.std(0)
        m.mean.copy_(torch.as_tensor(x.mean(0), dtype=torch.float32))
        m.std.copy_(torch.as_tensor(np.where(std > 1e-6, std, 1.0), dtype=torch.float32))
        opt = torch.optim.Adam(m.parameters(), lr=1e-2)
        xt = torch.as_tensor(x, dtype=torch.float32)
        y = torch.as_tensor(np.stack([yp, yc], 1), dtype=torch.float32)
        for _ in range(steps):
            logits = m.net((xt - m.mean) / m.std)
            loss = nn.functional.binary_cross_entropy_with_logits(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return m.eval()


def build_ranker(
    source: str, data_dir: Path, inter, item_stats, scorer, seed: int, ranker_config: dict | None = None
) -> RankerResult:
    if source not in ("auto", "ranking", "placeholder"):
        raise ValueError(f"ranker source {source!r}: expected auto, ranking or placeholder")
    note = ""
    if source in ("auto", "ranking"):
        try:
            from offline.ranking.train import train_ranker
        except ImportError as e:
            if source == "ranking":
                raise
            note = f"offline.ranking.train not importable ({e})"
        else:
            try:
                trained = train_ranker(
                    data_dir, dict(ranker_config or {}), score_fn=scorer, scorer_name=f"two-tower-{seed}"
                )
                return RankerResult(
                    trained.module.eval(), "ranking", dict(trained.metrics), f"method={trained.config.method}"
                )
            except Exception as e:  # auto: fall back, loudly
                if source == "ranking":
                    raise
                note = f"train_ranker failed: {type(e).__name__}: {e}"
                log.warning("ranking head unavailable, using the placeholder: %s", note)
    rng = np.random.default_rng(seed)
    x, yp, yc = placeholder_rows(inter, item_stats, scorer, rng)
    return RankerResult(train_placeholder(x, yp, yc, seed), "placeholder", {"rows": float(len(x))}, note)
