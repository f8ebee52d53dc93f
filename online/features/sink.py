"""``FeastEventSink``: applies ingested events to the online feature store (an ``EventSink``).

For a batch: read the current ``user_behaviour`` / ``item_stats`` rows of every user and item in
it (one read per view, through ``FastOnlineReader``), fold the events in with the pure rules
(online/features/merge.py, which uses the same folds as the offline batch job), and push the
new rows through the views' push sources. ITEM_UPSERT events are embedded with the injected
``item_embedder`` (the bundle's item encoder) and pushed to ``item_embedding`` with their text.

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
from fulcrum.core.item_state import ItemState, item_state_from_row
from fulcrum.core.user_state import UserState, user_state_from_row
from online.features import merge
from online.features.fast_read import FastOnlineReader
from online.ingest.sink import SinkUnavailable

if TYPE_CHECKING:
    from feast import FeatureStore

log = logging.getLogger(__name__)
ItemEmbedder = Callable[[list[str]], np.ndarray]
PUSH_MODES = ("online", "online_and_offline")


class FeastEventSink:
    def __init__(
        self, store: FeatureStore, item_embedder: ItemEmbedder | None = None, push_mode: str = "online"
    ) -> None:
        if push_mode not in PUSH_MODES:
            raise ValueError(f"push_mode: {push_mode!r} is not one of {', '.join(PUSH_MODES)}")
        self._store = store
        self._embedder = item_embedder
        self._push_mode = push_mode
        self._readers: dict[str, FastOnlineReader] = {}
        self._pending: tuple[str, ...] | None = None
        self._done: set[str] = set()
        #: seconds spent in the last apply, by step (read / merge / push), for metrics
        self.last_timings: dict[str, float] = {}

    def set_item_embedder(self, item_embedder: ItemEmbedder | None) -> None:
        """Swap the embedder (the server does it when it reloads a bundle)."""
        self._embedder = item_embedder

    # ---- store access (every failure becomes SinkUnavailable) ----------------------------------

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

    def _push(self, view: str, frame: Any) -> None:
        from feast.data_source import PushMode

        if frame.empty or view in self._done:
            return
        mode = PushMode.ONLINE_AND_OFFLINE if self._push_mode == "online_and_offline" else PushMode.ONLINE
        try:
            self._store.push(fn.push_source_name(view), frame, to=mode)
        except Exception as e:
            raise SinkUnavailable(
                f"pushing {view} to the feature store failed: {type(e).__name__}: {e}"
            ) from e
        self._done.add(view)

    # ---- the EventSink protocol ----------------------------------------------------------------

    def apply(self, events: Sequence[Event]) -> None:
        if not events:
            return
        key = tuple(e.event_id for e in events)
        if key != self._pending:
            self._pending, self._done = key, set()
        t0 = time.perf_counter()
        by_user = merge.user_events(events)
        by_item = merge.item_events(events)
        upserts = merge.item_upserts(events)
        embeddings = None
        if upserts and fn.ITEM_EMBEDDING_VIEW not in self._done:
            if self._embedder is None:
                log.warning(
                    "%d ITEM_UPSERT events but no item embedder: their embeddings are not pushed",
                    len(upserts),
                )
            else:
                embeddings = self._embedder(list(upserts.values()))
        t1 = time.perf_counter()
        users_now = {
            u: user_state_from_row(r)
            for u, r in self._read(fn.USER_BEHAVIOUR_VIEW, fn.USER_KEY, sorted(by_user)).items()
        }
        items_now = {
            i: item_state_from_row(r)
            for i, r in self._read(fn.ITEM_STATS_VIEW, fn.ITEM_KEY, sorted(by_item)).items()
        }
        t2 = time.perf_counter()
        users_new = merge.merge_users(
            {u: s for u, s in users_now.items() if isinstance(s, UserState)}, by_user
        )
        items_new = merge.merge_items(
            {i: s for i, s in items_now.items() if isinstance(s, ItemState)}, by_item
        )
        t3 = time.perf_counter()
        self._push(fn.USER_BEHAVIOUR_VIEW, merge.user_push_frame(users_new))
        self._push(fn.ITEM_STATS_VIEW, merge.item_push_frame(items_new))
        if embeddings is not None:
            at = {i: float(items_new[i].as_of or 0.0) for i in upserts}
            self._push(fn.ITEM_EMBEDDING_VIEW, merge.item_embedding_frame(upserts, embeddings, at))
        t4 = time.perf_counter()
        self._pending, self._done = None, set()
        self.last_timings = {"embed": t1 - t0, "read": t2 - t1, "merge": t3 - t2, "push": t4 - t3}
        log.debug(
            "applied %d events: %d users, %d items, %d upserts (%s)",
            len(events),
            len(users_new),
            len(items_new),
            len(upserts),
            {k: round(v * 1000, 1) for k, v in self.last_timings.items()},
        )

    def close(self) -> None:
        """Nothing to release (the FeatureStore is owned by the caller)."""
