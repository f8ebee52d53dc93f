"""The trend prior at each training cut, held per cut day in compressed rows.

Training adds the trend prior (``offline.model.trend_prior``) as of each cut's UTC day to the
logits of that cut's candidates. A dense [days x catalogue] table is 1.5 GB at a year of days and
a million items, and grows with both; but on any one day only the items with a buyer in the
trend window differ from the value every unsold item shares. So each day keeps that shared value
(``base``) and the sorted (item, value) pairs that differ from it; a step gathers the prior for
its candidates only (one binary search per candidate and day). The values are those of
``trend_prior`` bit for bit (``dense()`` rebuilds the table; tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

_DAY = 86_400.0


@dataclass(frozen=True)
class CutTrends:
    n_items: int
    base: torch.Tensor  # [D] float32: the value of every item not listed for that day
    ptr: np.ndarray  # [D + 1] offsets of each day's listed items in ``keys`` / ``values``
    keys: torch.Tensor  # [nnz] int64: day * n_items + item, ascending
    values: torch.Tensor  # [nnz] float32

    @property
    def n_days(self) -> int:
        return len(self.base)

    def gather(self, day: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
        """The prior [B, C] of candidate items ``cand`` [C] at day rows ``day`` [B]."""
        days, inverse = torch.unique(day, return_inverse=True)
        out = self.base[days][:, None].expand(len(days), len(cand)).clone()
        if len(self.keys) and len(cand):
            want = days[:, None] * self.n_items + cand[None, :]
            pos = torch.searchsorted(self.keys, want).clamp(max=len(self.keys) - 1)
            hit = self.keys[pos] == want
            out[hit] = self.values[pos[hit]]
        return out[inverse]

    def max_abs(self) -> float:
        """max |prior| over every (day, item) of the table (0 for no days)."""
        top = float(self.values.abs().max()) if len(self.values) else 0.0
        listed = np.diff(self.ptr)
        unlisted = torch.from_numpy(listed < self.n_items)
        if unlisted.any():
            top = max(top, float(self.base[unlisted].abs().max()))
        return top

    def dense(self) -> torch.Tensor:
        """The whole table [D, N] (tests and small catalogues only)."""
        out = self.base[:, None].repeat(1, self.n_items)
        out.view(-1)[self.keys] = self.values
        return out


def cut_trends(inter, examples, days: float) -> tuple[CutTrends, np.ndarray]:
    """(the trend prior of each distinct cut day, day row of each cut [C]): the prior as of the
    start of each cut's UTC day from the train purchases before it (never a look-ahead; the same
    rounding as the hybrid's per-user validation, offline.model.trend_prior.TrendAt)."""
    from offline.model.interactions import PURCHASE_CODE
    from offline.model.trend_prior import trend_prior

    p = inter.ev_type == PURCHASE_CODE
    order = np.argsort(inter.ev_time[p], kind="stable")
    u, i, t = inter.ev_user[p][order], inter.ev_item[p][order], inter.ev_time[p][order]
    day = np.floor(examples.time / _DAY) * _DAY
    uniq, inverse = np.unique(day, return_inverse=True)
    n = inter.n_items
    base = np.zeros(len(uniq), dtype=np.float32)
    keys, values, ptr = [], [], [0]
    for d, at in enumerate(uniq.tolist()):
        # the purchases of the window [at - days, at): what trend_prior keeps of those before `at`
        lo, hi = np.searchsorted(t, [at - days * _DAY, at], side="left")
        vec, _ = trend_prior(u[lo:hi], i[lo:hi], t[lo:hi], at, days, n)
        counts = np.bincount(i[lo:hi], minlength=n) if hi > lo else np.zeros(n, dtype=np.int64)
        unsold = np.flatnonzero(counts == 0)
        base[d] = vec[unsold[0]] if len(unsold) else 0.0
        listed = np.flatnonzero(vec != base[d])
        keys.append(d * n + listed.astype(np.int64))
        values.append(vec[listed])
        ptr.append(ptr[-1] + len(listed))
    table = CutTrends(
        n_items=n,
        base=torch.from_numpy(base),
        ptr=np.asarray(ptr, dtype=np.int64),
        keys=torch.from_numpy(np.concatenate(keys) if keys else np.zeros(0, dtype=np.int64)),
        values=torch.from_numpy(np.concatenate(values) if values else np.zeros(0, dtype=np.float32)),
    )
    return table, inverse.astype(np.int64)
