"""The rows Recommend's exploration slots may pick, without a pass over the catalogue.

Eligible: items with fewer than ``threshold`` observations (new items; max(impressions,
purchases) as the trials) that the request does not block, plus the retrieval candidates the
exploitation list did not take (``leftovers``); never a row of the exploitation list. The pool
is a uniform random subset of at most ``size`` of them (drawn with replacement, duplicates
dropped), as Thompson sampling only needs a sample.

The new items come from ``Catalogue.low_trial_rows(threshold)``: rows whose trials were below
the threshold when the snapshot first needed them (one pass per snapshot, carried over to the
next snapshot by an upsert). Trials only grow in place (``LiveCatalogue.count``), so that list
is a superset of today's new items and filtering it on the current counts is exact. When it is
long, the sample is drawn from it and the leftovers first (indices into the two lists, never
a copy of them), and the ineligible draws rejected, so a request costs O(size + leftovers), not
O(catalogue).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fulcrum.core import blocked_rows
from fulcrum.core.blocked_rows import Blocked, in_sorted

if TYPE_CHECKING:
    from fulcrum.core.bundle.catalogue import Catalogue


def exploration_pool(
    cat: Catalogue,
    blocked: Blocked,
    exploit: np.ndarray,
    leftovers: np.ndarray,
    threshold: int,
    rng: np.random.Generator,
    size: int,
) -> np.ndarray:
    new_rows = cat.low_trial_rows(threshold)
    leftovers = np.asarray(leftovers, dtype=np.int64)
    exploit = np.asarray(exploit, dtype=np.int64)

    # membership: a binary search in the (small) sorted leftovers and exploitation rows, no array
    # the size of the catalogue and no np.isin (which sorts both sides on every call); on a small
    # catalogue, byte marks per row (a memset of a few KB is cheaper there)
    if len(blocked) < blocked_rows.MASK_BELOW:
        mark = np.zeros(len(blocked), dtype=np.int8)
        mark[leftovers] = 1
        mark[exploit] = 2  # an exploitation row is never eligible, even when it is also a leftover

        def left_not_exploited(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            m = mark[rows]
            return m == 1, m == 2
    else:
        left_sorted, exploit_sorted = np.sort(leftovers), np.sort(exploit)

        def left_not_exploited(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            exploited = in_sorted(exploit_sorted, rows)
            return in_sorted(left_sorted, rows) & ~exploited, exploited

    def eligible(rows: np.ndarray) -> np.ndarray:
        trials = np.maximum(cat.impressions[rows], cat.purchases[rows])
        left, exploited = left_not_exploited(rows)
        ok = ((trials < threshold) & ~blocked[rows]) | left
        return rows[ok & ~exploited]

    total = len(new_rows) + len(leftovers)
    if total <= 4 * size:  # small: the exact eligible set, then the subset
        pool = np.unique(eligible(np.concatenate([new_rows, leftovers])))
        if len(pool) > size:
            pool = np.unique(pool[rng.integers(0, len(pool), size)])
        return pool
    # draws from new_rows then leftovers as one list, without concatenating them (new_rows may
    # be most of the catalogue: a catalogue of items nobody has seen yet)
    at = rng.integers(0, total, 2 * size)
    in_new = at < len(new_rows)
    picked = np.empty(len(at), dtype=np.int64)
    picked[in_new] = new_rows[at[in_new]]
    picked[~in_new] = leftovers[at[~in_new] - len(new_rows)]
    drawn = eligible(picked)
    _, first = np.unique(drawn, return_index=True)
    return np.sort(drawn[np.sort(first)][:size])  # the first `size` distinct draws
