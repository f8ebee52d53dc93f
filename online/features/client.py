"""The server's reader of online features: one call per user, one per batch of candidate items.

``OnlineFeatureClient`` reads through the feature services named in
``fulcrum.core.feature_names`` (``recommend_user``, ``recommend_items``, ``search_items``), runs
every store read in a worker thread with a deadline (except the async user read from a SQLite
file, done on the event loop when it needs no waiting, see ``get_user_profile_async``), and
turns any failure or timeout into
:class:`fulcrum.core.errors.FeatureStoreUnavailable` (the server answers degraded). An unknown user or
item is a *miss*: an empty profile / NaN statistics with ``found`` False, never invented values.

Reads go through ``FastOnlineReader`` (online/features/fast_read.py: the services' views read
straight from the configured online store's rows) unless ``fast_path=False``, which uses
``FeatureStore.get_online_features``; both return the same values (tested), the first faster.

No torch, no offline/ import. Feast itself is imported when a store is opened.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from fulcrum.core import feature_names as fn
from fulcrum.core.errors import FeatureStoreUnavailable
from fulcrum.core.item_state import ItemState, item_state_from_row
from fulcrum.core.profile import UserProfile
from fulcrum.core.rank_features import ItemStats
from fulcrum.core.user_state import UserState, user_profile, user_state_from_row, window_counts
from online.features.fast_read import FastOnlineReader
from online.features.row_fetch import StoreBusy
from online.features.user_cache import DecodedUserCache

if TYPE_CHECKING:
    from feast import FeatureStore

log = logging.getLogger(__name__)
T = TypeVar("T")
DEFAULT_TIMEOUT_S = 0.05


@dataclass(frozen=True)
class UserFeatures:
    """What Recommend knows about a user from the store."""

    profile: UserProfile
    miss: bool  # True: the store has no row for this user (a cold-start user)
    state: UserState | None = None  # the stored behaviour state (None: no row)
    as_of: float | None = None  # epoch seconds of the newest event in the row
    embedding: np.ndarray | None = None  # float32 [D], when one was pushed

    @cached_property
    def counts(self) -> dict[str, int]:
        """purchase_count_7d ... (see feature_names); computed on first use (Recommend never asks)."""
        return {} if self.state is None else window_counts(self.state)


@dataclass(frozen=True)
class ItemStatsBatch:
    """Statistics of a batch of items, aligned with ``item_ids``; NaN / 0 where ``found`` is False."""

    item_ids: tuple[str, ...]
    found: np.ndarray  # bool [N]
    purchases: np.ndarray  # float [N]
    impressions: np.ndarray
    clicks: np.ndarray
    cancels: np.ndarray
    cancel_rate: np.ndarray
    price: np.ndarray  # NaN: unknown
    first_seen: np.ndarray  # epoch seconds, NaN: unknown
    popularity_rank: np.ndarray  # int64, 0 = unranked

    def for_ranking(self, n_ranked: int) -> ItemStats:
        """The ranking head's ``ItemStats`` (see ``item_stats_for_ranking``)."""
        return item_stats_for_ranking(self, n_ranked)


def item_stats_for_ranking(stats: ItemStatsBatch, n_ranked: int) -> ItemStats:
    """Unknown price -> 0; popularity_pct = 1 - (rank - 1) / n_ranked, 0 when unranked."""
    rank = stats.popularity_rank.astype(np.float64)
    pct = np.where(rank > 0, 1.0 - (rank - 1.0) / max(n_ranked, 1), 0.0)
    return ItemStats(
        item_ids=stats.item_ids,
        purchases=stats.purchases.astype(np.float64),
        cancel_rate=stats.cancel_rate.astype(np.float64),
        price=np.nan_to_num(stats.price, nan=0.0),
        first_seen=stats.first_seen.astype(np.float64),
        popularity_pct=np.clip(pct, 0.0, 1.0),
    )


def item_stats_batch(item_ids: Sequence[str], states: Sequence[ItemState | None]) -> ItemStatsBatch:
    """Lay out item states (None = miss) as arrays."""
    n = len(item_ids)

    def arr(get: Callable[[ItemState], float | None]) -> np.ndarray:
        return np.array([np.nan if s is None or get(s) is None else get(s) for s in states], dtype=np.float64)

    return ItemStatsBatch(
        item_ids=tuple(item_ids),
        found=np.array([s is not None for s in states], dtype=bool).reshape(n),
        purchases=np.nan_to_num(arr(lambda s: s.purchases)),
        impressions=np.nan_to_num(arr(lambda s: s.impressions)),
        clicks=np.nan_to_num(arr(lambda s: s.clicks)),
        cancels=np.nan_to_num(arr(lambda s: s.cancels)),
        cancel_rate=np.nan_to_num(arr(lambda s: s.cancel_rate)),
        price=arr(lambda s: s.price),
        first_seen=arr(lambda s: s.first_seen),
        popularity_rank=np.nan_to_num(arr(lambda s: s.popularity_rank)).astype(np.int64),
    )


class OnlineFeatureClient:
    """Reads user and item features for serving, each call bounded by a deadline.

    Thread-safe for concurrent calls; ``close()`` stops the worker threads.
    """

    def __init__(
        self,
        store: FeatureStore,
        *,
        default_timeout_s: float = DEFAULT_TIMEOUT_S,
        max_workers: int = 8,
        fast_path: bool = True,
        item_cache_ttl_s: float = 0.0,
        item_cache_max: int = 200_000,
        user_cache_entries: int = 0,
        user_cache_bytes: int = 64 * 2**20,
    ) -> None:
        if not (default_timeout_s > 0 and math.isfinite(default_timeout_s)):
            raise ValueError(
                f"default_timeout_s: must be a positive number of seconds, got {default_timeout_s!r}"
            )
        self._store = store
        self._timeout = float(default_timeout_s)
        self._pool = cf.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="feast-read")
        if not (item_cache_ttl_s >= 0 and math.isfinite(item_cache_ttl_s)):
            raise ValueError(f"item_cache_ttl_s: must be >= 0 seconds, got {item_cache_ttl_s!r}")
        self._fast = fast_path
        #: item id -> (monotonic time read, state or None for a miss); off when the TTL is 0
        self._item_ttl = float(item_cache_ttl_s)
        self._item_cache_max = int(item_cache_max)
        self._item_cache: dict[str, tuple[float, ItemState | None]] = {}
        self._item_lock = threading.Lock()
        #: decoded users keyed by their stored bytes (online/features/user_cache.py; 0 = off)
        self._users = DecodedUserCache(user_cache_entries, user_cache_bytes)
        names = (fn.RECOMMEND_USER_SERVICE, fn.RECOMMEND_ITEMS_SERVICE, fn.SEARCH_ITEMS_SERVICE)
        try:
            self._services = {name: store.get_feature_service(name) for name in names}
            self._readers = (
                {name: FastOnlineReader.for_service(store, name) for name in names} if fast_path else {}
            )
        except Exception as e:  # registry missing or not applied
            self._pool.shutdown(wait=False)
            raise FeatureStoreUnavailable(f"feature services not found (was `feast apply` run?): {e}") from e

    @classmethod
    def open(
        cls, repo: Path | str, store: str | None = None, redis_url: str | None = None, **kwargs: Any
    ) -> OnlineFeatureClient:
        """Open ``repo`` with the ``sqlite`` or ``redis`` configuration (fulcrum/core/feature_store.py)."""
        from fulcrum.core.feature_store import open_store

        try:
            fs = open_store(repo, store, redis_url)
        except (OSError, ValueError) as e:
            raise FeatureStoreUnavailable(f"cannot open feature repo {repo}: {e}") from e
        return cls(fs, **kwargs)

    @property
    def store(self) -> FeatureStore:
        return self._store

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ---- the deadline ---------------------------------------------------------------------------

    def _call(self, what: str, fn_: Callable[[], T], timeout_s: float | None) -> T:
        timeout = self._timeout if timeout_s is None else float(timeout_s)
        future = self._pool.submit(fn_)
        try:
            return future.result(timeout=timeout)
        except cf.TimeoutError as e:
            future.cancel()
            raise FeatureStoreUnavailable(
                f"{what}: feature store did not answer within {timeout * 1000:.0f} ms"
            ) from e
        except Exception as e:
            raise FeatureStoreUnavailable(f"{what}: feature store failed: {type(e).__name__}: {e}") from e

    def _online(self, service: str, key: str, ids: Sequence[str]) -> dict[str, list[Any]]:
        if self._fast:
            return self._readers[service].read(ids)
        response = self._store.get_online_features(self._services[service], {key: list(ids)})
        return response.to_dict()

    # ---- users ----------------------------------------------------------------------------------

    def get_user_profile(self, user_id: str, timeout_s: float | None = None) -> UserFeatures:
        """Everything Recommend reads about one user (``miss`` True when the store has no row)."""
        if self._fast:
            reader = self._readers[fn.RECOMMEND_USER_SERVICE]
            return self._call("get_user_profile", lambda: self._user_fast(reader, user_id), timeout_s)
        row = self._call("get_user_profile", lambda: self._user_row(user_id), timeout_s)
        return self._user_from_row(user_id, row)

    def _user_fast(self, reader: FastOnlineReader, user_id: str, nonblocking: bool = False) -> UserFeatures:
        """Fetch the user's stored bytes (always); decode them unless the decoded-user cache holds
        exactly these bytes for this user (then the decode would give the same value)."""
        raw = reader.fetch([user_id], nonblocking)
        if not self._users.enabled:
            return self._user_from_row(user_id, reader.decode_one(raw))
        hit = self._users.get(user_id, raw)
        if hit is not None:
            return hit
        features = self._user_from_row(user_id, reader.decode_one(raw))
        if features.embedding is not None:
            features.embedding.flags.writeable = False  # shared by the requests that hit
        self._users.put(user_id, raw, features)
        return features

    def forget_user(self, user_id: str) -> None:
        """Drop what this process holds about ``user_id`` (ForgetUser; the store is erased apart)."""
        self._users.forget_user(user_id)

    async def get_user_profile_async(self, user_id: str, timeout_s: float | None = None) -> UserFeatures:
        """``get_user_profile`` for asyncio callers.

        A SQLite file is read right here on the event loop when that needs no waiting (a point
        read of one user's rows, tens of microseconds: cheaper than the hop to a worker thread);
        while a writer commits (``StoreBusy``), and for network stores (Redis), the read runs in
        the worker pool under the deadline."""
        reader = self._readers.get(fn.RECOMMEND_USER_SERVICE) if self._fast else None
        if reader is not None and not reader.may_block:
            try:
                return self._user_fast(reader, user_id, nonblocking=True)
            except StoreBusy:
                pass  # a writer is committing: wait for it in a worker thread, bounded by the deadline
            except Exception as e:
                raise FeatureStoreUnavailable(
                    f"get_user_profile: feature store failed: {type(e).__name__}: {e}"
                ) from e
        if reader is not None:
            return await self._acall("get_user_profile", lambda: self._user_fast(reader, user_id), timeout_s)
        row = await self._acall("get_user_profile", lambda: self._user_row(user_id), timeout_s)
        return self._user_from_row(user_id, row)

    def _user_row(self, user_id: str) -> dict[str, Any]:
        if self._fast:
            return self._readers[fn.RECOMMEND_USER_SERVICE].read_one(user_id)
        cols = self._online(fn.RECOMMEND_USER_SERVICE, fn.USER_KEY, [user_id])
        return {k: v[0] for k, v in cols.items()}

    @staticmethod
    def _user_from_row(user_id: str, row: dict[str, Any]) -> UserFeatures:
        state = user_state_from_row(row)
        emb = row.get(fn.USER_EMBEDDING)
        embedding = np.asarray(emb, dtype=np.float32) if emb else None
        if state.is_empty:
            return UserFeatures(
                profile=user_profile(user_id, UserState()), miss=embedding is None, embedding=embedding
            )
        return UserFeatures(
            profile=user_profile(user_id, state),
            miss=False,
            state=state,
            as_of=state.as_of,
            embedding=embedding,
        )

    # ---- items ----------------------------------------------------------------------------------

    def get_item_stats(self, item_ids: Sequence[str], timeout_s: float | None = None) -> ItemStatsBatch:
        """Statistics of candidate items (``found`` False for items the store does not know).

        With ``item_cache_ttl_s`` > 0, an item read less than that many seconds ago is served from
        memory (item statistics are exploration counts: a second of staleness is harmless, and
        Recommend reads the same popular candidates for every user). User features are never cached.
        """
        ids = list(item_ids)
        cached, todo = self._cached_items(ids)
        if todo:
            cols = self._call(
                "get_item_stats",
                lambda: self._online(fn.RECOMMEND_ITEMS_SERVICE, fn.ITEM_KEY, todo),
                timeout_s,
            )
            cached.update(self._remember_items(todo, cols))
        return item_stats_batch(ids, [cached[i] for i in ids])

    async def get_item_stats_async(
        self, item_ids: Sequence[str], timeout_s: float | None = None
    ) -> ItemStatsBatch:
        ids = list(item_ids)
        cached, todo = self._cached_items(ids)
        if todo:
            cols = await self._acall(
                "get_item_stats",
                lambda: self._online(fn.RECOMMEND_ITEMS_SERVICE, fn.ITEM_KEY, todo),
                timeout_s,
            )
            cached.update(self._remember_items(todo, cols))
        return item_stats_batch(ids, [cached[i] for i in ids])

    def _cached_items(self, ids: list[str]) -> tuple[dict[str, ItemState | None], list[str]]:
        if self._item_ttl <= 0:
            return {}, list(dict.fromkeys(ids))
        now = time.monotonic()
        hit: dict[str, ItemState | None] = {}
        with self._item_lock:
            for i in ids:
                entry = self._item_cache.get(i)
                if entry is not None and now - entry[0] < self._item_ttl:
                    hit[i] = entry[1]
        return hit, [i for i in dict.fromkeys(ids) if i not in hit]

    def _remember_items(self, ids: list[str], cols: dict[str, list[Any]]) -> dict[str, ItemState | None]:
        states: dict[str, ItemState | None] = {}
        for j, i in enumerate(ids):
            s = item_state_from_row({f: cols[f][j] for f in fn.ITEM_STATS_FEATURES})
            states[i] = None if s.is_empty else s
        if self._item_ttl > 0:
            now = time.monotonic()
            with self._item_lock:
                if len(self._item_cache) + len(states) > self._item_cache_max:
                    self._item_cache.clear()
                self._item_cache.update((i, (now, s)) for i, s in states.items())
        return states

    def get_item_embeddings(
        self, item_ids: Sequence[str], timeout_s: float | None = None
    ) -> tuple[np.ndarray, list[np.ndarray | None], list[str | None]]:
        """(found mask, embeddings or None, texts or None) of items pushed by ITEM_UPSERT or the batch job."""
        ids = list(item_ids)
        cols = self._call(
            "get_item_embeddings", lambda: self._online(fn.SEARCH_ITEMS_SERVICE, fn.ITEM_KEY, ids), timeout_s
        )
        embs = [
            np.asarray(e, dtype=np.float32) if e else None
            for e in cols.get(fn.ITEM_EMBEDDING, [None] * len(ids))
        ]
        texts = list(cols.get(fn.ITEM_TEXT, [None] * len(ids)))
        return np.array([e is not None for e in embs], dtype=bool), embs, texts

    async def _acall(self, what: str, fn_: Callable[[], T], timeout_s: float | None) -> T:
        timeout = self._timeout if timeout_s is None else float(timeout_s)
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._pool, fn_), timeout)
        except TimeoutError as e:
            raise FeatureStoreUnavailable(
                f"{what}: feature store did not answer within {timeout * 1000:.0f} ms"
            ) from e
        except Exception as e:
            raise FeatureStoreUnavailable(f"{what}: feature store failed: {type(e).__name__}: {e}") from e
