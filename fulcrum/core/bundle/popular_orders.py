"""The catalogue's popularity orders carried from one snapshot to the next on an upsert, without
sorting the catalogue again.

``Catalogue.popular_order`` (rows by all-time popularity rank) and ``popular_now_order`` (by the
trend prior, ties by rank) are sorts of the whole catalogue: O(N log N) per snapshot, and an
upsert makes a new snapshot. Yet an upsert never moves an existing row in them: the rows' ranks
and trend do not change (live purchase counts feed exploration, not these orders), and an item
added while serving gets the next rank and the trend pad. So the new snapshot's orders are the
old ones with the new rows inserted where a full sort would put them: a binary search per new
row in the old snapshot's sorted keys (kept beside the order) and one insertion, O(k log N)
comparisons plus one copy of the arrays. A snapshot of the same rows (an update of texts or
prices) takes the old orders and the values derived from rank and trend as they are.

``carry_orders(old, new)`` fills ``new``'s cached values from ``old``'s when ``old`` has them;
anything not carried is computed by ``Catalogue.warm`` as before. Equality with a fresh sort:
tests/core/bundle/test_popular_orders.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from fulcrum.core.bundle.catalogue import Catalogue

#: values that depend only on the rows' ranks, the trend prior and the row count
SAME_ROWS = (
    "popularity_pct", "popular_order", "popular_now_order", "popular_now_pct", "trend_all", "_trend_term",
)
#: order name -> (the name of its sorted keys, kept beside it)
ORDERS = {"popular_order": "_popular_keys", "popular_now_order": "_popular_now_keys"}


def order_keys(cat: Catalogue, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(major, minor) sort keys of every row for an order (ties after both: by row)."""
    if name == "popular_now_order" and cat.trend_all is not None:
        return -cat.trend_all, cat.popularity_rank
    return cat.popularity_rank, np.zeros(len(cat))


def sorted_keys(cat: Catalogue, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The keys of ``name`` in its order, computed once per snapshot (then carried)."""
    cached = cat.__dict__.get(ORDERS[name])
    if cached is None:
        order = getattr(cat, name)
        major, minor = order_keys(cat, name)
        cached = (major[order], minor[order])
        cat.__dict__[ORDERS[name]] = cached
    return cached


def _inserted(cat: Catalogue, old: Catalogue, name: str) -> None:
    n_old, n_new = len(old), len(cat)
    order = old.__dict__[name]
    major_sorted, minor_sorted = sorted_keys(old, name)
    major, minor = order_keys(cat, name)
    new_rows = np.arange(n_old, n_new, dtype=np.int64)
    new_rows = new_rows[np.lexsort((new_rows, minor[new_rows], major[new_rows]))]
    at = np.empty(len(new_rows), dtype=np.int64)
    for i, row in enumerate(new_rows):
        lo = int(np.searchsorted(major_sorted, major[row], side="left"))
        hi = int(np.searchsorted(major_sorted, major[row], side="right"))
        # a new row's index is above every old row's: after all old rows with equal keys
        at[i] = lo + int(np.searchsorted(minor_sorted[lo:hi], minor[row], side="right"))
    cat.__dict__[name] = np.insert(order, at, new_rows)
    cat.__dict__[ORDERS[name]] = (
        np.insert(major_sorted, at, major[new_rows]),
        np.insert(minor_sorted, at, minor[new_rows]),
    )


def carry_orders(old: Catalogue, new: Catalogue) -> Catalogue:
    """``new`` (grown from ``old`` by an upsert: the same first rows, new rows after them) with
    the orders ``old`` had computed carried over; ``new``."""
    if new is old or len(new) < len(old) or new.trend is not old.trend or new.trend_pad != old.trend_pad:
        return new
    if len(new) == len(old):
        for name in (*SAME_ROWS, *ORDERS.values()):
            if name in old.__dict__ and name not in new.__dict__:
                new.__dict__[name] = old.__dict__[name]
        return new
    for name in ORDERS:
        if name in old.__dict__ and name not in new.__dict__:
            _inserted(new, old, name)
    return new
