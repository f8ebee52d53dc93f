"""Training examples: sliding windows over time, and their padded history batches.

A *cut* is a moment a user purchased (a basket). Its history is every behaviour event of the user
strictly before the cut (the model later sees the last T); its targets are the items the user
purchased in ``[cut, cut + horizon_days]`` (just that basket when the horizon is 0) and, for the
``next_new`` target, had never purchased before the cut. One example = (cut, target item);
the history is encoded once per cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from offline.model.interactions import PURCHASE_CODE, Interactions

_DAY = 86_400.0


@dataclass(frozen=True)
class Examples:
    """Cuts (one user history each) and their targets in CSR form: cut c owns
    ``target[ptr[c]:ptr[c + 1]]``. The user tower runs once per cut, the loss once per target."""

    user: np.ndarray  # [C] int64 user index
    hist_end: np.ndarray  # [C] int64 exclusive end of the history in the event arrays
    time: np.ndarray  # [C] float64 cut time (epoch s)
    ptr: np.ndarray  # [C + 1] int64 offsets into target
    target: np.ndarray  # [X] int64 item index

    def __len__(self) -> int:
        return len(self.target)

    @property
    def n_cuts(self) -> int:
        return len(self.user)

    def cut_of_target(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_cuts), np.diff(self.ptr))


def build_examples(
    inter: Interactions, t_lo: float, t_hi: float | np.ndarray, horizon_days: float, new_only: bool
) -> Examples:
    """Examples whose cut lies in [t_lo, t_hi) and whose targets lie before t_hi.

    ``t_hi`` is one time for everyone or one per user ([U], e.g. each user's own validation
    basket under leave-last-out): the cuts are every user's own purchase moments, whatever the
    calendar, so a user with two baskets gives one example however sparse the shop."""
    us, ends, times, sizes, targets = [], [], [], [], []
    horizon = horizon_days * _DAY
    per_user = np.ndim(t_hi) > 0
    for u in range(len(inter.user_ids)):
        hi = float(t_hi[u]) if per_user else float(t_hi)
        sl = inter.user_slice(u)
        items, codes, ts = inter.ev_item[sl], inter.ev_type[sl], inter.ev_time[sl]
        is_p = codes == PURCHASE_CODE
        p_items, p_ts = items[is_p], ts[is_p]
        if len(p_items) == 0:
            continue
        # first purchase time of each (user, item): "new" means first purchase >= cut
        first: dict[int, float] = {}
        for it, t in zip(p_items.tolist(), p_ts.tolist(), strict=True):
            first.setdefault(it, t)
        for cut in np.unique(p_ts):
            if cut < t_lo or cut >= hi:
                continue
            end = int(np.searchsorted(ts, cut, side="left"))
            if end == 0:
                continue  # no history before the first event
            win = (p_ts >= cut) & (p_ts <= cut + horizon) & (p_ts < hi)
            tgt = np.unique(p_items[win])
            if new_only:
                tgt = np.array([i for i in tgt.tolist() if first[i] >= cut], dtype=np.int64)
            if len(tgt) == 0:
                continue
            us.append(u)
            ends.append(sl.start + end)
            times.append(cut)
            sizes.append(len(tgt))
            targets.append(tgt)
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return Examples(
        np.asarray(us, dtype=np.int64),
        np.asarray(ends, dtype=np.int64),
        np.asarray(times, dtype=np.float64),
        ptr,
        np.concatenate(targets).astype(np.int64) if targets else np.zeros(0, dtype=np.int64),
    )


def history_batch(
    inter: Interactions, user: np.ndarray, hist_end: np.ndarray, time: np.ndarray, t_len: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Padded last-``t_len`` histories (oldest first, right-aligned) ->
    (item index [B,T] int64, type code [B,T] int64 (0 pad), age days [B,T] float32, mask [B,T] float32)."""
    start = inter.user_start[user]
    idx = hist_end[:, None] - t_len + np.arange(t_len)[None, :]
    valid = idx >= np.maximum(start, 0)[:, None]
    safe = np.where(valid, idx, 0)
    items = np.where(valid, inter.ev_item[safe], 0)
    types = np.where(valid, inter.ev_type[safe], 0)
    age = np.where(valid, (time[:, None] - inter.ev_time[safe]) / _DAY, 0.0).astype(np.float32)
    return items, types, np.maximum(age, 0.0), valid.astype(np.float32)


def user_histories(inter: Interactions, at: float | np.ndarray, t_len: int) -> tuple[np.ndarray, tuple]:
    """Histories of every user with an event before ``at`` (events < at; one time, or one per
    user [U]) -> (user idx, batch). Ages are taken at ``at`` (a user's own cut when per user;
    an infinite cut means "after all their train events": ages at the training cut)."""
    n = len(inter.user_ids)
    at_u = np.full(n, float(at)) if np.ndim(at) == 0 else np.asarray(at, dtype=np.float64)
    ends = np.array(
        [int(np.searchsorted(inter.ev_time[inter.user_slice(u)], at_u[u], side="left")) for u in range(n)],
        dtype=np.int64,
    )
    users = np.flatnonzero(ends > 0)
    hist_end = inter.user_start[users] + ends[users]
    when = np.where(np.isfinite(at_u[users]), at_u[users], inter.train_end)
    return users, history_batch(inter, users, hist_end, when, t_len)
