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

from fulcrum.core.bundle.encoders import History
from fulcrum.core.bundle.live_catalogue import LiveCatalogue
from fulcrum.core.bundle.loader import LoadedBundle, load_bundle
from fulcrum.core.text import render_item_text, render_query_text
from online.inference.batcher import MicroBatcher
from online.inference.chunked import embed_chunked

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
        replace_learned: bool = False,
        max_upserted: int | None = None,
    ) -> None:
        self.bundle = bundle
        self.catalogue = LiveCatalogue(bundle.catalogue, replace_learned, max_upserted)
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
        """Item embeddings [N, D] for raw item texts (rendered as in training); thread-safe, sync.
        At most ``EMBED_CHUNK`` texts per encoder call (bounded memory), the lock held per call."""
        return self._embed(self.bundle.text_encoder, self._rendered(texts), self.bundle.catalogue.dim)

    def _rendered(self, texts: Sequence[str]) -> list[str]:
        template = self.bundle.manifest.text_template
        return [render_item_text(t, template) for t in texts]

    def _embed(self, encoder, rendered: list[str], dim: int) -> np.ndarray:
        """``encoder`` over already rendered texts, in chunks, the embed lock held per call."""

        def encode(part: list[str]) -> list[np.ndarray]:
            with self._embed_lock:
                return encoder(part)

        return embed_chunked(encode, rendered, dim)

    def upsert_items(
        self, item_ids: Sequence[str], texts: Sequence[str], prices: Sequence[float]
    ) -> list[str]:
        """Embed and add (or replace) items in the live retrieval index, atomically; returns the
        new ids refused by the catalogue's ``max_upserted`` cap."""
        rendered = self._rendered(texts)
        embeddings = self._embed(self.bundle.text_encoder, rendered, self.bundle.catalogue.dim)
        search_vectors = None
        space = self.bundle.catalogue.search_vectors
        if self.bundle.search_encoder is not None and space is not None and texts:
            search_vectors = self._embed(self.bundle.search_encoder, rendered, space.shape[1])
        refused: list[str] = []
        self.catalogue.upsert(item_ids, texts, embeddings, prices, time.time(), refused, search_vectors)
        return refused


def _log_unawaited(task: asyncio.Task) -> None:
    """Retrieve a finished load's exception (its callers may all have been cancelled)."""
    if not task.cancelled() and task.exception() is not None:
        log.info("bundle load ended with %s: %s", type(task.exception()).__name__, task.exception())


class ModelHolder:
    """The one reference to the serving model, plus the upserts to replay after a reload.

    Reloads run as ONE shielded task at a time: a caller that is cancelled (client gone,
    deadline) leaves its load running to completion (it swaps if it succeeds), and a caller that
    arrives while a load runs waits for it to end before starting its own, so cancelled or
    concurrent calls never load in parallel. The bundle path is resolved (symlinks such as
    ``LATEST`` followed) once per load, so the files verified are the files opened.
    """

    def __init__(
        self,
        model: ServingModel,
        path: Path,
        factory: Callable[[LoadedBundle], ServingModel],
        loader: Callable[[Path], LoadedBundle] = load_bundle,
    ) -> None:
        self.current = model
        #: the folder the serving bundle was loaded from (resolved)
        self.path = Path(path)
        #: what an empty ReloadModel reloads: the path the server was started with (e.g. LATEST)
        self.start_path = Path(path)
        self._factory = factory
        self._loader = loader
        self._upserts: dict[str, tuple[str, float]] = {}
        self._task: asyncio.Task | None = None
        #: loads started and running (for the metrics and the tests)
        self.loads_started = 0
        self.loads_running = 0

    def record_upserts(self, item_ids: Sequence[str], texts: Sequence[str], prices: Sequence[float]) -> None:
        for item, text, price in zip(item_ids, texts, prices, strict=True):
            self._upserts[item] = (text, price)

    def forget_upserts(self, item_ids: Sequence[str]) -> None:
        """Drop recorded upserts the catalogue refused (they are not replayed after a reload)."""
        for item in item_ids:
            self._upserts.pop(item, None)

    @staticmethod
    def _apply(model: ServingModel, upserts: dict[str, tuple[str, float]]) -> None:
        ids = list(upserts)
        model.upsert_items(ids, [upserts[i][0] for i in ids], [upserts[i][1] for i in ids])

    async def reload(self, path: Path | None, allow_rollback: bool = True) -> tuple[str, str]:
        """Load ``path`` (default: ``start_path``, resolved anew) fully, then swap; returns
        (new, previous). ``allow_rollback=False`` refuses (``BundleInvalid``) a bundle whose
        manifest is older than the serving one's."""
        while self._task is not None and not self._task.done():
            # wait for the running load without cancelling it if this caller is cancelled
            await asyncio.wait({self._task})
        # no await between the check above and this assignment: one task at a time
        self._task = asyncio.get_running_loop().create_task(
            self._load_and_swap(Path(path) if path else self.start_path, allow_rollback)
        )
        self._task.add_done_callback(_log_unawaited)
        return await asyncio.shield(self._task)

    async def _load_and_swap(self, target: Path, allow_rollback: bool) -> tuple[str, str]:
        from fulcrum.core.errors import BundleInvalid, NotFound
        from online.bundle.versions import is_rollback

        loop = asyncio.get_running_loop()
        try:
            resolved = target.resolve(strict=True)
        except (OSError, RuntimeError) as e:
            raise NotFound(f"bundle folder not found: {target}") from e
        self.loads_started += 1
        self.loads_running += 1
        try:
            bundle = await loop.run_in_executor(None, self._loader, resolved)
        finally:
            self.loads_running -= 1
        serving = self.current.bundle.manifest
        if not allow_rollback and is_rollback(bundle.manifest.created_at, serving.created_at):
            raise BundleInvalid(
                f"{bundle.manifest.version} (created {bundle.manifest.created_at or 'unknown'}) is older "
                f"than the serving {serving.version} ({serving.created_at or 'unknown'}): a rollback "
                "needs allow_rollback"
            )
        model = self._factory(bundle)
        replayed = dict(self._upserts)
        if replayed:
            await loop.run_in_executor(None, self._apply, model, replayed)
        previous = self.current.version
        self.current = model
        self.path = resolved
        # items announced while the replay ran: the sink may have given them to the old model
        late = {k: v for k, v in self._upserts.items() if replayed.get(k) != v}
        if late:
            self._apply(model, late)
        log.info("bundle swapped: %s -> %s (%s)", previous, model.version, resolved)
        return model.version, previous
