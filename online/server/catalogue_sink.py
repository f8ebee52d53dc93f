"""The ingest sink that makes ITEM_UPSERT events retrievable: embed, then add to the live index."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fulcrum.core.events import Event
from fulcrum.core.schema import EventType
from online.inference.chunked import EMBED_CHUNK, chunks
from online.inference.model import ModelHolder
from online.server import metrics

log = logging.getLogger(__name__)


class CatalogueSink:
    """``EventSink`` for the server's own catalogue.

    ITEM_UPSERT: embed and add to the retrieval index, ``EMBED_CHUNK`` (256) items at a time, so
    a batch of 20,000 upserts never holds more than one chunk's encoder activations, and each
    chunk is retrievable as soon as it is embedded. The live catalogue grows in amortised O(1)
    per item, keeps a bundle item's learned vectors (unless configured otherwise) and adds at
    most ``max_upserted_items``; refused items are counted and not replayed after a reload.
    PURCHASE / IMPRESSION: count them on the live catalogue, so Thompson sampling's posteriors
    (and "new item" status) learn while serving.
    """

    def __init__(self, holder: ModelHolder) -> None:
        self._holder = holder

    def apply(self, events: Sequence[Event]) -> None:
        latest: dict[str, Event] = {}
        purchased: list[str] = []
        shown: list[str] = []
        for e in events:
            if e.is_item_upsert:
                latest.pop(e.item_id, None)
                latest[e.item_id] = e  # the last announcement of an item in the batch wins
            elif e.event_type is EventType.PURCHASE:
                purchased.append(e.item_id)
            elif e.event_type is EventType.IMPRESSION:
                shown.append(e.item_id)
        if latest:
            self._upsert(latest)
        if purchased or shown:
            self._holder.current.catalogue.count(purchased, shown)

    def _upsert(self, latest: dict[str, Event]) -> None:
        ids = list(latest)
        refused_total = 0
        for start in chunks(len(ids), EMBED_CHUNK):
            part = ids[start : start + EMBED_CHUNK]
            texts = [latest[i].item_text for i in part]
            prices = [latest[i].price for i in part]
            self._holder.record_upserts(part, texts, prices)  # before: a reload meanwhile replays them
            refused = self._holder.current.upsert_items(part, texts, prices)
            if refused:
                self._holder.forget_upserts(refused)
                refused_total += len(refused)
            metrics.UPSERTED.inc(len(part) - len(refused))
        if refused_total:
            metrics.UPSERTS_REFUSED.inc(refused_total)
            log.warning(
                "catalogue: %d new items refused, max_upserted_items reached (they wait for the next bundle)",
                refused_total,
            )
        log.info(
            "catalogue: %d items upserted (now %d)",
            len(ids) - refused_total,
            len(self._holder.current.catalogue.current),
        )
