"""Building the request's view of the user: stored profile + the session's items."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import replace
from itertools import repeat

import numpy as np

from fulcrum.core.bundle.catalogue import Catalogue
from fulcrum.core.bundle.encoders import History
from fulcrum.core.errors import FeatureStoreTimeout
from fulcrum.core.profile import UserProfile
from fulcrum.core.schema import EVENT_TYPE_CODE, EventType
from online.server.feature_source import FeatureSource

_DAY = 86_400.0
SESSION_EVENT = EventType.VIEW.value


async def fetch_profile(
    source: FeatureSource, user_id: str, timeout_s: float, executor: Executor
) -> UserProfile:
    """The stored profile within ``timeout_s``, else ``FeatureStoreUnavailable`` (never hangs)."""
    if timeout_s <= 0:
        raise FeatureStoreTimeout("no time left for the feature store")
    fast = getattr(source, "get_user_profile_async", None)
    if fast is not None:  # the source bounds its own I/O; wait_for still guarantees the deadline
        call = fast(user_id, timeout_s)
    else:
        call = asyncio.get_running_loop().run_in_executor(
            executor, source.get_user_profile, user_id, timeout_s
        )
    try:
        async with asyncio.timeout(timeout_s):  # no extra Task per call, unlike wait_for
            return await call
    except TimeoutError as e:
        raise FeatureStoreTimeout(f"feature store timed out after {timeout_s * 1000:.0f} ms") from e


def with_session(profile: UserProfile, session_items: Sequence[str], now: float) -> UserProfile:
    """Session items become the freshest history (type VIEW, time ``now``), newest last."""
    if not session_items:
        return profile
    n = len(session_items)
    return replace(
        profile,
        recent_items=profile.recent_items + tuple(session_items),
        recent_types=profile.recent_types + (SESSION_EVENT,) * n,
        recent_times=profile.recent_times + (now,) * n,
        last_active=now,
    )


def history_for(profile: UserProfile, catalogue: Catalogue, now: float, max_length: int) -> History | None:
    """The user encoder's input from the last ``max_length`` known items; None when none is known.

    Vectorised (one C-level pass per field, no Python loop over the history)."""
    items = profile.recent_items
    n = len(items)
    if n == 0:
        return None
    rows = np.fromiter(map(catalogue.index.get, items, repeat(-1, n)), dtype=np.int64, count=n)
    keep = np.flatnonzero(rows >= 0)[-max_length:]
    if len(keep) == 0:
        return None
    times = profile.recent_times if len(profile.recent_times) == n else (now,) * n
    kinds = profile.recent_types if len(profile.recent_types) == n else (SESSION_EVENT,) * n
    default = EVENT_TYPE_CODE[SESSION_EVENT]
    types = np.fromiter(map(EVENT_TYPE_CODE.get, kinds, repeat(default, n)), dtype=np.int64, count=n)
    ages = np.maximum(now - np.asarray(times, dtype=np.float64), 0.0) / _DAY
    return History(
        emb=catalogue.embeddings[rows[keep]],
        types=types[keep],
        ages=ages[keep].astype(np.float32),
    )
