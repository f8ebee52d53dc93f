"""A serving model: one loaded bundle, its micro-batchers and its live catalogue.

``ModelHolder`` owns the current ``ServingModel``; ``reload`` loads and verifies the new bundle
completely in a thread, re-embeds the items upserted while serving with the new item encoder,
then swaps one reference. Requests take ``holder.current`` once and use that model throughout,
so a swap never mixes two bundles inside one reply.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from pathlib import Path

import numpy as np

from fulcrum.core.text import render_item_text, render_query_text
from online.bundle.loader import LoadedBundle, load_bundle
from online.inference.batcher import MicroBatcher
from online.inference.catalogue import LiveCatalogue
from online.inference.encoders import History

log = logging.getLogger(__name__)


class ServingModel:
    def __init__(
        self,
        bundle: LoadedBundle,
        executor: Executor,
        max_batch: int,
        max_wait_s: float,
        on_batch: Callable[[str, int], None] | None = None,
        inline_if: Callable[[], bool] | None = None,
    ) -> None:
        self.bundle = bundle
        self.catalogue = LiveCatalogue(bundle.catalogue)
        self.text_batcher: MicroBatcher[str, np.ndarray] = MicroBatcher(
            "item_encoder", bundle.text_encoder, executor, max_batch, max_wait_s, on_batch, inline_if
        )
        self.user_batcher: MicroBatcher[History, np.ndarray] = MicroBatcher(
            "user_encoder", bundle.user_encoder, executor, max_batch, max_wait_s, on_batch, inline_if
        )
        self.rank_batcher: MicroBatcher[np.ndarray, tuple[np.ndarray, np.ndarray]] = MicroBatcher(
            "ranker", bundle.ranker, executor, max_batch, max_wait_s, on_batch, inline_if
        )
        self.search_batcher: MicroBatcher[str, np.ndarray] | None = None
        if bundle.search_encoder is not None:
            self.search_batcher = MicroBatcher(
                "search_encoder", bundle.search_encoder, executor, max_batch, max_wait_s, on_batch, inline_if
            )
        self._embed_lock = threading.Lock()
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()

    @property
    def version(self) -> str:
        return self.bundle.manifest.version

    async def encode_query(self, query: str) -> np.ndarray:
        return await self.text_batcher.submit(render_query_text(query))

    async def encode_search_query(self, query: str, cache_size: int = 0) -> np.ndarray:
        """A Search query in the catalogue's search space (the bundle's pooled search encoder
        when it has one, else the item encoder); the last ``cache_size`` distinct queries'
        vectors are kept (LRU) and reused."""
        text = render_query_text(query)
        cached = self._query_cache.get(text)
        if cached is not None:
            self._query_cache.move_to_end(text)
            return cached
        if self.search_batcher is None:
            vec = await self.text_batcher.submit(text)
        else:
            vec = await self.search_batcher.submit(text)
        if cache_size > 0:
            self._query_cache[text] = vec
            while len(self._query_cache) > cache_size:
                self._query_cache.popitem(last=False)
        return vec

    async def encode_user(self, history: History) -> np.ndarray:
        return await self.user_batcher.submit(history)

    async def rank(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return await self.rank_batcher.submit(features)

    def embed_items(self, texts: Sequence[str]) -> np.ndarray:
        """Item embeddings [N, D] for raw item texts (rendered as in training); thread-safe, sync."""
        if not texts:
            return np.zeros((0, self.bundle.catalogue.dim), dtype=np.float32)
        template = self.bundle.manifest.text_template
        rendered = [render_item_text(t, template) for t in texts]
        with self._embed_lock:
            return np.stack(self.bundle.text_encoder(rendered))

    def upsert_items(self, item_ids: Sequence[str], texts: Sequence[str], prices: Sequence[float]) -> None:
        """Embed and add (or replace) items in the live retrieval index, atomically."""
        embeddings = self.embed_items(texts)
        search_vectors = None
        if self.bundle.search_encoder is not None and texts:
            template = self.bundle.manifest.text_template
            with self._embed_lock:
                rendered = [render_item_text(t, template) for t in texts]
                search_vectors = np.stack(self.bundle.search_encoder(rendered))
        self.catalogue.upsert(item_ids, texts, embeddings, prices, time.time(), search_vectors)


class ModelHolder:
    """The one reference to the serving model, plus the upserts to replay after a reload."""

    def __init__(
        self,
        model: ServingModel,
        path: Path,
        factory: Callable[[LoadedBundle], ServingModel],
        loader: Callable[[Path], LoadedBundle] = load_bundle,
    ) -> None:
        self.current = model
        self.path = Path(path)
        self._factory = factory
        self._loader = loader
        self._upserts: dict[str, tuple[str, float]] = {}
        self._lock = asyncio.Lock()

    def record_upserts(self, item_ids: Sequence[str], texts: Sequence[str], prices: Sequence[float]) -> None:
        for item, text, price in zip(item_ids, texts, prices, strict=True):
            self._upserts[item] = (text, price)

    @staticmethod
    def _apply(model: ServingModel, upserts: dict[str, tuple[str, float]]) -> None:
        ids = list(upserts)
        model.upsert_items(ids, [upserts[i][0] for i in ids], [upserts[i][1] for i in ids])

    async def reload(self, path: Path | None) -> tuple[str, str]:
        """Load ``path`` (default: the configured one) fully, then swap; returns (new, previous)."""
        target = Path(path) if path else self.path
        loop = asyncio.get_running_loop()
        async with self._lock:  # one reload at a time
            bundle = await loop.run_in_executor(None, self._loader, target)
            model = self._factory(bundle)
            replayed = dict(self._upserts)
            if replayed:
                await loop.run_in_executor(None, self._apply, model, replayed)
            previous = self.current.version
            self.current = model
            self.path = target
            # items announced while the replay ran: the sink may have given them to the old model
            late = {k: v for k, v in self._upserts.items() if replayed.get(k) != v}
            if late:
                self._apply(model, late)
            log.info("bundle swapped: %s -> %s (%s)", previous, model.version, target)
            return model.version, previous
