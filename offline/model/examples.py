"""Training examples: sliding windows over time, and their padded history batches.

A *cut* is a moment a user purchased (a basket). Its history is every behaviour event of the user
strictly before the cut (the model later sees the last T); its targets are the items the user
purchased in ``[cut, cut + horizon_days]`` (just that basket when the horizon is 0) and, for the
``next_new`` target, had never purchased before the cut. One example = (cut, target item);
the history is encoded once per cut. With ``retrieval.targets: interactions`` every positive
behaviour (a view, a click, a cart) is a cut too, and the next few positive events after a cut
are targets as well (``build_examples``'s ``next_events``): next-item learning on a
multi-behaviour shop, where purchases are a few percent of the events.
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


#: the most purchase events after a cut that its targets are taken from (the nearest first): one
#: cut's targets, hence the examples of a user, stay linear in the user's purchases however many
#: purchases fall inside the horizon (a wholesale account buying thousands of items a week)
MAX_WINDOW_PURCHASES = 256
#: cuts processed per block (bounds the working arrays of a user with a huge history)
_CUT_BLOCK = 4096


def build_examples(
    inter: Interactions,
    t_lo: float,
    t_hi: float | np.ndarray,
    horizon_days: float,
    new_only: bool,
    max_window: int = MAX_WINDOW_PURCHASES,
    next_events: int = 0,
) -> Examples:
    """Examples whose cut lies in [t_lo, t_hi) and whose targets lie before t_hi.

    ``t_hi`` is one time for everyone or one per user ([U], e.g. each user's own validation
    basket under leave-last-out): the cuts are every user's own purchase moments, whatever the
    calendar, so a user with two baskets gives one example however sparse the shop.

    A cut's targets come from at most ``max_window`` purchase events from the cut on (the
    nearest), so a user with P purchases gives at most P x ``max_window`` examples and the work is
    O(P log P + P x max_window) -- linear in the user's events, where looking at every purchase
    of the window for every cut was quadratic. Windows shorter than ``max_window`` (every user of
    a normal shop) give exactly the targets of the unbounded definition.

    ``next_events`` > 0 (``retrieval.targets: interactions``): every moment of a positive
    behaviour (view, click, cart, purchase; ``positive_codes``) is a cut too, and each cut's
    targets also include the next ``next_events`` positive events from the cut on (the nearest,
    within the horizon and before ``t_hi``): next-item learning over the whole log. A user with
    E positive events and P purchases gives at most E x ``next_events`` + P x ``max_window``
    examples. "New" (``new_only``) keeps its meaning: an item the user had not PURCHASED before the
    cut (a re-viewed item is a target; a re-bought one is not). On a log whose only positive
    behaviour is the purchase the extra targets are a subset of the purchase window (the next
    ``next_events`` <= ``max_window`` purchases), so the examples are exactly those of
    ``next_events = 0``."""
    if max_window < 1:
        raise ValueError(f"max_window: must be >= 1, got {max_window}")
    if next_events < 0:
        raise ValueError(f"next_events: must be >= 0, got {next_events}")
    positive = None
    if next_events > 0:
        from offline.model.validation_protocol import positive_codes

        positive = np.fromiter(sorted(positive_codes()), dtype=np.int64)
    us, ends, times, sizes, targets = [], [], [], [], []
    horizon = horizon_days * _DAY
    per_user = np.ndim(t_hi) > 0
    for u in range(len(inter.user_ids)):
        hi = float(t_hi[u]) if per_user else float(t_hi)
        sl = inter.user_slice(u)
        items, codes, ts = inter.ev_item[sl], inter.ev_type[sl], inter.ev_time[sl]
        is_p = codes == PURCHASE_CODE
        p_items, p_ts = items[is_p], ts[is_p]
        if positive is None:
            n_items_, n_ts = p_items[:0], p_ts[:0]
        else:
            is_n = np.isin(codes, positive)
            n_items_, n_ts = items[is_n], ts[is_n]
        if len(p_items) == 0 and len(n_items_) == 0:
            continue
        cuts = np.unique(n_ts if positive is not None else p_ts)  # events are in time order per user
        end = np.searchsorted(ts, cuts, side="left")
        keep = (cuts >= t_lo) & (cuts < hi) & (end > 0)  # no history before the first event: no cut
        if not keep.any():
            continue
        cuts, end = cuts[keep], end[keep]
        # each window [cut, cut + horizon], before hi, as a contiguous run of the sorted events
        p_lo, p_hi = _windows(p_ts, cuts, horizon, hi, max_window)
        n_lo, n_hi = _windows(n_ts, cuts, horizon, hi, next_events)
        # first purchase time of each item: "new" at a cut means first purchase >= cut
        first_items, first_at = np.unique(p_items, return_index=True)
        first_ts = p_ts[first_at]
        for b in range(0, len(cuts), _CUT_BLOCK):
            blk = slice(b, b + _CUT_BLOCK)
            c_cut, c_end = _block_targets(
                cuts[blk], (p_lo[blk], n_lo[blk]), (p_hi[blk], n_hi[blk]), (p_items, n_items_),
                first_items, first_ts, new_only, inter.n_items,
            )
            if len(c_cut) == 0:
                continue
            c_cut += b
            bounds = np.flatnonzero(np.diff(c_cut)) + 1
            cut_rows = c_cut[np.concatenate([[0], bounds])]
            us.extend([u] * len(cut_rows))
            ends.extend((sl.start + end[cut_rows]).tolist())
            times.extend(cuts[cut_rows].tolist())
            sizes.extend(np.diff(np.concatenate([[0], bounds, [len(c_cut)]])).tolist())
            targets.append(c_end)
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return Examples(
        np.asarray(us, dtype=np.int64),
        np.asarray(ends, dtype=np.int64),
        np.asarray(times, dtype=np.float64),
        ptr,
        np.concatenate(targets).astype(np.int64) if targets else np.zeros(0, dtype=np.int64),
    )


def _windows(
    ev_ts: np.ndarray, cuts: np.ndarray, horizon: float, hi: float, cap: int
) -> tuple[np.ndarray, np.ndarray]:
    """([C] start, [C] end) of each cut's window in the sorted event times ``ev_ts``: the events
    in [cut, cut + horizon] and before ``hi``, at most ``cap`` of them (the nearest)."""
    lo = np.searchsorted(ev_ts, cuts, side="left")
    up = np.minimum(
        np.searchsorted(ev_ts, cuts + horizon, side="right"), np.searchsorted(ev_ts, hi, side="left")
    )
    return lo, np.minimum(up, lo + cap)


def _block_targets(
    cuts: np.ndarray,
    lo: tuple[np.ndarray, ...],
    hi: tuple[np.ndarray, ...],
    ev_items: tuple[np.ndarray, ...],
    first_items: np.ndarray,
    first_ts: np.ndarray,
    new_only: bool,
    n_items: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(cut position, target item) pairs of a block of cuts, sorted by cut then item, unique:
    for each kind k of window, the items ``ev_items[k][lo[k][c]:hi[k][c]]`` of each cut c,
    without a Python loop over cuts."""
    cut_parts, item_parts = [], []
    for k_lo, k_hi, k_items in zip(lo, hi, ev_items, strict=True):
        lens = np.maximum(k_hi - k_lo, 0)
        total = int(lens.sum())
        if total == 0:
            continue
        cut_parts.append(np.repeat(np.arange(len(cuts)), lens))
        pos = np.repeat(k_lo - (np.cumsum(lens) - lens), lens) + np.arange(total)
        item_parts.append(k_items[pos].astype(np.int64))
    if not cut_parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    cut_of, item = np.concatenate(cut_parts), np.concatenate(item_parts)
    if new_only:
        # first purchase of the item (inf = never purchased: new at every cut)
        at = np.minimum(np.searchsorted(first_items, item), max(len(first_items) - 1, 0))
        bought = (first_items[at] == item) if len(first_items) else np.zeros(len(item), dtype=bool)
        first = np.where(bought, first_ts[at] if len(first_ts) else 0.0, np.inf)
        ok = first >= cuts[cut_of]
        cut_of, item = cut_of[ok], item[ok]
    width = max(int(n_items), int(item.max(initial=0)) + 1)
    key = np.unique(cut_of.astype(np.int64) * width + item)
    return key // width, key % width


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
