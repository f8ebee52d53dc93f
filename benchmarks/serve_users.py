"""The users `fulcrum bench serve` sends Recommend for: warm users drawn from the data the online
store was materialised from (the real path), or synthetic ones for the in-memory store."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def synthetic_users(catalogue, n_users: int, hist: int, seed: int):
    """``n_users`` profiles with ``hist`` purchases each of random catalogue items (in-memory store)."""
    from fulcrum.core.profile import UserProfile

    rng = np.random.default_rng(seed)
    now = time.time()
    users = []
    for u in range(n_users):
        rows = rng.choice(len(catalogue), size=min(hist, len(catalogue)), replace=False)
        items = tuple(str(catalogue.item_ids[r]) for r in rows)
        users.append(
            UserProfile(
                user_id=f"bench-{u}",
                recent_items=items,
                recent_types=("PURCHASE",) * len(items),
                recent_times=tuple(now - 86_400.0 * (len(items) - i) for i in range(len(items))),
                purchase_count=float(len(items)),
                distinct_items=float(len(items)),
                last_active=now,
                bought=frozenset(items[: len(items) // 2]),
            )
        )
    return users


def warm_users(repo: Path, client, catalogue, n_users: int, seed: int) -> list:
    """Up to ``n_users`` warm users -- a row in the online store with history items the bundle's
    catalogue knows -- drawn (seeded) from the repo's ``user_behaviour`` batch table, the data
    the store was materialised from."""
    import pandas as pd

    from fulcrum.core import feature_names as fn

    table = repo / "data" / fn.batch_file_name(fn.USER_BEHAVIOUR_VIEW)
    if not table.is_file():
        raise RuntimeError(f"{table} does not exist: run `fulcrum features apply --repo {repo}` first")
    ids = pd.read_parquet(table, columns=[fn.USER_KEY])[fn.USER_KEY].astype(str).unique()
    rng = np.random.default_rng(seed)
    users = []
    for u in rng.permutation(ids)[: n_users * 3]:
        got = client.get_user_profile(str(u), timeout_s=5.0)
        if not got.miss and any(i in catalogue.index for i in got.profile.recent_items):
            users.append(got.profile)
        if len(users) == n_users:
            break
    if not users:
        raise RuntimeError(
            f"no user of {table} has a row in the online store with items of this bundle's catalogue: "
            "was it materialised, from the data this bundle was trained on?"
        )
    return users
