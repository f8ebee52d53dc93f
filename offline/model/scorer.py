"""Retrieval scores of (user profile, candidate items) with the trained towers.

This is the ``score_fn`` the ranking head's training rows use for their ``retrieval_score``
feature (offline.ranking.history.ScoreFn), computed the way serving computes it: the profile's
last T events -> user tower -> cosine with each candidate's item embedding. Event ages are taken
relative to the profile's ``last_active`` (the row's own time is not part of the profile).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from fulcrum.core.profile import UserProfile
from fulcrum.core.schema import EVENT_TYPE_CODE

_DAY = 86_400.0


class TwoTowerScorer:
    def __init__(
        self, item_ids: Sequence[str], item_vecs: np.ndarray, user_tower: torch.nn.Module, t_len: int
    ) -> None:
        self.index = {str(i): j for j, i in enumerate(item_ids)}
        self.item_vecs = np.asarray(item_vecs, dtype=np.float32)
        self.user_tower = user_tower.eval()
        self.t_len = t_len

    def profile_batch(self, profiles: Sequence[UserProfile]) -> tuple[np.ndarray, ...]:
        b, t, d = len(profiles), self.t_len, self.item_vecs.shape[1]
        emb = np.zeros((b, t, d), dtype=np.float32)
        typ = np.zeros((b, t), dtype=np.int64)
        age = np.zeros((b, t), dtype=np.float32)
        mask = np.zeros((b, t), dtype=np.float32)
        for r, p in enumerate(profiles):
            now = (
                p.last_active
                if p.last_active is not None
                else (max(p.recent_times) if p.recent_times else 0.0)
            )
            ev = [
                (self.index[i], EVENT_TYPE_CODE.get(k, 0), ts)
                for i, k, ts in zip(p.recent_items, p.recent_types, p.recent_times, strict=True)
                if i in self.index and k in EVENT_TYPE_CODE
            ][-t:]
            for j, (ix, code, ts) in enumerate(ev, start=t - len(ev)):
                emb[r, j], typ[r, j], age[r, j], mask[r, j] = (
                    self.item_vecs[ix],
                    code,
                    max(now - ts, 0.0) / _DAY,
                    1.0,
                )
        return emb, typ, age, mask

    @torch.no_grad()
    def encode(self, profiles: Sequence[UserProfile]) -> np.ndarray:
        if not profiles:
            return np.zeros((0, self.item_vecs.shape[1]), dtype=np.float32)
        arrays = [torch.from_numpy(a) for a in self.profile_batch(profiles)]
        return self.user_tower(*arrays).numpy()

    def __call__(
        self, profiles: Sequence[UserProfile], candidates: Sequence[Sequence[str]]
    ) -> list[np.ndarray]:
        users = self.encode(profiles)
        out = []
        for u, cand in zip(users, candidates, strict=True):
            idx = np.array([self.index.get(str(c), -1) for c in cand], dtype=np.int64)
            s = self.item_vecs[np.maximum(idx, 0)] @ u
            out.append(np.where(idx >= 0, s, 0.0).astype(np.float32))
        return out
