"""``FeastEventSink``: applies ingested events to the online feature store (an ``EventSink``).

For a batch: read the current ``user_behaviour`` / ``item_stats`` rows of every user and item in
it (one read per view, through ``FastOnlineReader``), fold the events in with the pure rules
(online/features/merge.py, which uses the same folds as the offline batch job), and push the
new rows through the views' push sources. ITEM_UPSERT events are embedded with the injected
``item_embedder`` (the bundle's item encoder) and written to ``item_embedding`` with their text
(directly in push mode "online", as the other views; a push otherwise),
``EMBED_CHUNK`` (256) items at a time so memory stays bounded however many upserts a batch
holds; an item the bundle knows keeps its learned vector (``keep_vectors``) and only its text
changes, unless the sink is built without ``keep_vectors``.

Fast path (push mode "online", the default): the user and item rows are written with one
``online_write_batch`` call per view (online/features/online_write.py: the same bytes as a push,
without the push's per-call DataFrame validation and type inference), together with the ids of
the events folded into them, in one transaction (the applied-events journal, online/features/
applied.py, for the plain Redis and SQLite stores). Before folding, each view leaves out the
events its rows already include, so redelivery -- also after ``kill -9`` between the write and
the idempotency mark, or between the two views' writes -- changes every row once.

Several writers. With the plain Redis store (``skip_dedup``) each view's rows are written
compare-and-set on a per-row version (online/features/checked_fold.py), so two writers of one
row (consumers sharing items, servers' IngestEvents doors) never lose an update; SQLite is
single-writer.

Caches. The folded states may be kept in a bounded write-through LRU cache (``cache_size``
entities per view, 0 disables it), so a user or item seen recently is not read back. Under
compare-and-set a cached state is used only while the stored version is still the one this sink
wrote; otherwise (SQLite, other stores) a cache is only right while this sink is the ONE writer of
the rows it caches (docs/scaling.md): users, when events are keyed by user id and this sink is
a consumer of the group -- the consumer clears the cache when a partition is revoked
(``clear_cache``); items are touched by every partition and every door, so ``cache_items``
defaults to False. The server's sink (gRPC door, several replicas) caches nothing. Any failure
clears the cache, so a retry reads the store again.

Failure: any store error raises ``SinkUnavailable`` and the caller retries the same batch. Pushes
that already succeeded for that batch (same event ids) are not repeated on the retry, so a batch
that failed between two pushes is never counted twice. The caller de-duplicates event ids across
batches (online/ingest/dedupe.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from fulcrum.core import feature_names as fn
from fulcrum.core.events import Event
from fulcrum.core.item_state import ItemState, item_state_from_row, item_state_to_row
from fulcrum.core.user_state import UserState, user_state_from_row, user_state_to_row
from online.features import merge
from online.features.checked_fold import CheckedFolds, StateCache
from online.features.fast_read import FastOnlineReader
from online.features.online_write import OnlineRowWriter
from online.inference.chunked import EMBED_CHUNK, chunks
from online.ingest.sink import SinkUnavailable

if TYPE_CHECKING:
    from feast import FeatureStore

log = logging.getLogger(__name__)
ItemEmbedder = Callable[[list[str]], np.ndarray]
PUSH_MODES = ("online", "online_and_offline")
DEFAULT_CACHE_SIZE = 200_000


class FeastEventSink(CheckedFolds):
    def __init__(
        self,
        store: FeatureStore,
        item_embedder: ItemEmbedder | None = None,
        push_mode: str = "online",
        cache_size: int = DEFAULT_CACHE_SIZE,
        cache_items: bool = False,
        keep_vectors: Callable[[Sequence[str]], dict[str, np.ndarray]] | None = None,
    ) -> None:
        if push_mode not in PUSH_MODES:
            raise ValueError(f"push_mode: {push_mode!r} is not one of {', '.join(PUSH_MODES)}")
        if cache_size < 0:
            raise ValueError(f"cache_size: must be >= 0, got {cache_size}")
        self._store = store
        self._embedder = item_embedder
        #: ids -> the learned vectors to keep for those of them the bundle knows (None: replace all)
        self._keep_vectors = keep_vectors
        self._push_mode = push_mode
        self._readers: dict[str, FastOnlineReader] = {}
        self._writers: dict[str, OnlineRowWriter] = {}
        self._cache = {
            fn.USER_BEHAVIOUR_VIEW: StateCache(cache_size),
            fn.ITEM_STATS_VIEW: StateCache(cache_size if cache_items else 0),
        }
        self._pending: tuple[str, ...] | None = None
        self._done: set[str] = set()
        #: view -> ids of the events its next write folds in (recorded with the rows)
        #: view -> row id -> ids of the events its next write folds into that row
        self._view_events: dict[str, dict[str, list[str]]] = {}
        #: view -> row id -> the write version of the cached state (compare-and-set stores)
        self._versions: dict[str, dict[str, int]] = {fn.USER_BEHAVIOUR_VIEW: {}, fn.ITEM_STATS_VIEW: {}}
        self._upsert_at: dict[str, float] = {}
        self._last_items: dict[str, ItemState] = {}
        #: seconds spent in the last apply, by step (read / merge / push), for metrics
        self.last_timings: dict[str, float] = {}

    def set_item_embedder(
        self,
        item_embedder: ItemEmbedder | None,
        keep_vectors: Callable[[Sequence[str]], dict[str, np.ndarray]] | None = None,
    ) -> None:
        """Swap the embedder and the bundle's learned vectors to keep (the server sets both)."""
        self._embedder = item_embedder
        self._keep_vectors = keep_vectors

    def clear_cache(self) -> None:
        """Forget every cached state (the next batches read the store again)."""
        for c in self._cache.values():
            c.clear()
        for v in self._versions.values():
            v.clear()

    # ---- store access (every failure becomes SinkUnavailable) ----------------------------------

    def _current(self, view: str, key: str, ids: list[str], from_row: Callable[[Any], Any]) -> dict[str, Any]:
        """Current state of every id (cached, else read; ``None`` when the store has no row)."""
        hits, misses = self._cache[view].split(ids)
        read = self._read(view, key, misses)
        fresh = {i: (from_row(read[i]) if i in read else None) for i in misses}
        self._cache[view].put(fresh)
        hits.update(fresh)
        return hits

    def _writer(self, view: str) -> OnlineRowWriter:
        writer = self._writers.get(view)
        if writer is None:
            writer = self._writers[view] = OnlineRowWriter(self._store, view, fn.VIEW_FEATURES[view])
        return writer

    def _grouped(self, events: Sequence[Event]) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
        """``merge.group_events``, leaving out of each view's fold the events its rows already
        include (the applied-events journal, online/features/applied.py): a redelivered event --
        after a crash between the write and the id mark, or between two views' writes -- is
        folded into each row once. Remembers which events each view's write records."""
        by_user, by_item, upserts = merge.group_events(events)
        self._view_events = {}
        if self._push_mode != "online":
            return by_user, by_item, upserts
        rows_of = {
            fn.USER_BEHAVIOUR_VIEW: [
                (e.user_id, e.event_id) for e in events if e.user_id and not e.is_item_upsert
            ],
            fn.ITEM_STATS_VIEW: [(e.item_id, e.event_id) for e in events if e.item_id],
        }
        per_view = {view: [eid for _, eid in pairs] for view, pairs in rows_of.items()}
        skip: dict[str, set[str]] = {}
        for view, ids in per_view.items():
            if view in self._done:
                continue
            writer = self._writer(view)
            if not writer.has_journal:
                continue
            skip[view] = writer.applied(ids)
            by_row: dict[str, list[str]] = {}
            for row, eid in rows_of[view]:
                if eid not in skip[view]:
                    by_row.setdefault(row, []).append(eid)
            self._view_events[view] = by_row
        if skip.get(fn.USER_BEHAVIOUR_VIEW):
            gone = skip[fn.USER_BEHAVIOUR_VIEW]
            by_user = merge.group_events([e for e in events if e.event_id not in gone])[0]
        if skip.get(fn.ITEM_STATS_VIEW):
            gone = skip[fn.ITEM_STATS_VIEW]
            by_item = merge.group_events([e for e in events if e.event_id not in gone])[1]
        if any(skip.values()):
            log.info(
                "%s of %d events already in the store (redelivered): not folded again",
                {v: len(ids) for v, ids in skip.items()},
                len(events),
            )
        return by_user, by_item, upserts

    def _as_of(self, item: str) -> float:
        state = self._last_items.get(item)
        if state is not None and state.as_of:
            return float(state.as_of)
        return self._upsert_at.get(item, 0.0)

    def _write(self, view: str, states: dict[str, Any], to_row: Callable[[Any], dict[str, Any]]) -> None:
        """One online write of the non-empty states of ``view`` (recording the events folded into
        them, in the same transaction), then the cache takes them."""
        if view in self._done:
            return
        keys = [k for k, s in states.items() if not s.is_empty]
        try:
            self._writer(view).write(
                keys,
                [to_row(states[k]) for k in keys],
                [float(states[k].as_of or 0.0) for k in keys],
                [e for ids in self._view_events.get(view, {}).values() for e in ids],
            )
        except Exception as e:
            raise SinkUnavailable(
                f"writing {view} to the feature store failed: {type(e).__name__}: {e}"
            ) from e
        self._done.add(view)
        self._cache[view].put(states)

    def _read(self, view: str, key: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        features = fn.VIEW_FEATURES[view]
        try:
            reader = self._readers.get(view)
            if reader is None:
                reader = self._readers[view] = FastOnlineReader(self._store, [(view, features)])
            cols = reader.read(ids)
        except Exception as e:
            raise SinkUnavailable(
                f"reading {view} from the feature store failed: {type(e).__name__}: {e}"
            ) from e
        return merge.rows_by_key(cols, key, features)

    def _push(self, view: str, frame: Any, tag: str | None = None) -> None:
        from feast.data_source import PushMode

        tag = tag or view
        if frame.empty or tag in self._done:
            return
        mode = PushMode.ONLINE_AND_OFFLINE if self._push_mode == "online_and_offline" else PushMode.ONLINE
        try:
            self._store.push(fn.push_source_name(view), frame, to=mode)
        except Exception as e:
            raise SinkUnavailable(
                f"pushing {view} to the feature store failed: {type(e).__name__}: {e}"
            ) from e
        self._done.add(tag)

    # ---- the EventSink protocol ----------------------------------------------------------------

    def apply(self, events: Sequence[Event]) -> None:
        if not events:
            return
        key = tuple(e.event_id for e in events)
        if key != self._pending:
            self._pending, self._done = key, set()
        t0 = time.perf_counter()
        try:
            by_user, by_item, upserts = self._grouped(events)
        except Exception as e:
            raise SinkUnavailable(
                f"reading the applied-events journal failed: {type(e).__name__}: {e}"
            ) from e
        self._upsert_at = {e.item_id: e.timestamp_ms / 1000.0 for e in events if e.is_item_upsert}
        try:
            t4 = self._apply_views(by_user, by_item)
            embed_s = self._push_embeddings(upserts)
        except Exception:
            self.clear_cache()  # a failed batch may have half-written: the retry reads the store
            raise
        t5 = time.perf_counter()
        self._pending, self._done = None, set()
        t1, t2, t3 = self._marks
        self.last_timings = {
            "read": t2 - t1,
            "merge": t3 - t2,
            "push": t5 - t3 - embed_s,
            "embed": embed_s,
            "total": t5 - t0,
        }
        log.debug(
            "applied %d events: %d users, %d items, %d upserts (%s), push till %.1f ms",
            len(events),
            len(by_user),
            len(by_item),
            len(upserts),
            {k: round(v * 1000, 1) for k, v in self.last_timings.items()},
            (t4 - t3) * 1000,
        )

    def _push_embeddings(self, upserts: dict[str, str]) -> float:
        """Embed and push the upserted items ``EMBED_CHUNK`` at a time (bounded memory: one
        chunk's encoder activations and push frame at a time); returns the seconds spent
        embedding. Items the bundle knows keep their learned vector (``keep_vectors``) with the
        new text. A chunk pushed before a failure is not pushed again on the retry."""
        if not upserts:
            return 0.0
        if self._embedder is None:
            log.warning(
                "%d ITEM_UPSERT events but no item embedder: their embeddings are not pushed", len(upserts)
            )
            return 0.0
        ids = list(upserts)
        embed_s = 0.0
        for start in chunks(len(ids), EMBED_CHUNK):
            tag = f"{fn.ITEM_EMBEDDING_VIEW}@{start}"
            if tag in self._done:
                continue
            part = ids[start : start + EMBED_CHUNK]
            kept = self._keep_vectors(part) if self._keep_vectors is not None else {}
            fresh = [i for i in part if i not in kept]
            t = time.perf_counter()
            vectors = (
                dict(zip(fresh, self._embedder([upserts[i] for i in fresh]), strict=True)) if fresh else {}
            )
            embed_s += time.perf_counter() - t
            vectors.update(kept)
            matrix = np.stack([np.asarray(vectors[i], dtype=np.float32) for i in part])
            at = {i: self._as_of(i) for i in part}
            if self._push_mode == "online":  # the direct write: no per-call registry parse
                self._write_embeddings(part, upserts, matrix, at, tag)
                continue
            self._push(
                fn.ITEM_EMBEDDING_VIEW,
                merge.item_embedding_frame({i: upserts[i] for i in part}, matrix, at),
                tag,
            )
        return embed_s

    def _write_embeddings(
        self, part: list[str], upserts: dict[str, str], matrix: np.ndarray, at: dict[str, float], tag: str
    ) -> None:
        """The ``item_embedding`` rows through ``OnlineRowWriter`` (the bytes a push writes,
        tests/online/features/test_feature_store.py): ``FeatureStore.push`` parses the registry's
        feature services and views on every call, which held the GIL (and so the server's event
        loop) for most of an upsert's time."""
        if matrix.ndim != 2 or matrix.shape[0] != len(part):
            raise ValueError(f"item embedder returned shape {matrix.shape} for {len(part)} texts")
        rows = [{fn.ITEM_EMBEDDING: matrix[j].tolist(), fn.ITEM_TEXT: upserts[i]} for j, i in enumerate(part)]
        try:
            self._writer(fn.ITEM_EMBEDDING_VIEW).write(part, rows, [at[i] for i in part])
        except Exception as e:
            raise SinkUnavailable(
                f"writing {fn.ITEM_EMBEDDING_VIEW} to the feature store failed: {type(e).__name__}: {e}"
            ) from e
        self._done.add(tag)

    def _apply_views(self, by_user: dict[str, Any], by_item: dict[str, Any]) -> float:
        """Read (cache first), fold and write the user and item rows; returns the end time."""
        t1 = time.perf_counter()
        if self._push_mode == "online" and self._writer(fn.USER_BEHAVIOUR_VIEW).checks_versions:
            self._marks = (t1, t1, t1)
            self._fold_write_checked(
                fn.USER_BEHAVIOUR_VIEW, fn.USER_KEY, by_user, user_state_from_row, user_state_to_row,
                merge.merge_users, UserState,
            )  # fmt: skip
            self._last_items = self._fold_write_checked(
                fn.ITEM_STATS_VIEW, fn.ITEM_KEY, by_item, item_state_from_row, item_state_to_row,
                merge.merge_items, ItemState,
            )  # fmt: skip
            return time.perf_counter()
        users_now = self._current(fn.USER_BEHAVIOUR_VIEW, fn.USER_KEY, sorted(by_user), user_state_from_row)
        items_now = self._current(fn.ITEM_STATS_VIEW, fn.ITEM_KEY, sorted(by_item), item_state_from_row)
        t2 = time.perf_counter()
        users_new = merge.merge_users(
            {u: s for u, s in users_now.items() if isinstance(s, UserState)}, by_user
        )
        items_new = merge.merge_items(
            {i: s for i, s in items_now.items() if isinstance(s, ItemState)}, by_item
        )
        t3 = time.perf_counter()
        self._marks = (t1, t2, t3)
        self._last_items = items_new
        if self._push_mode == "online":
            self._write(fn.USER_BEHAVIOUR_VIEW, users_new, user_state_to_row)
            self._write(fn.ITEM_STATS_VIEW, items_new, item_state_to_row)
        else:
            self._push(fn.USER_BEHAVIOUR_VIEW, merge.user_push_frame(users_new))
            self._cache[fn.USER_BEHAVIOUR_VIEW].put(users_new)
            self._push(fn.ITEM_STATS_VIEW, merge.item_push_frame(items_new))
            self._cache[fn.ITEM_STATS_VIEW].put(items_new)
        return time.perf_counter()

    def close(self) -> None:
        """Nothing to release (the FeatureStore is owned by the caller)."""
