"""The ingest sink that makes ITEM_UPSERT events retrievable: embed, then add to the live index."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fulcrum.core.events import Event
from fulcrum.core.schema import EventType
from online.inference.model import ModelHolder
from online.server import metrics

log = logging.getLogger(__name__)


class CatalogueSink:
    """``EventSink`` for the server's own catalogue.

    ITEM_UPSERT: embed and add to the retrieval index. PURCHASE / IMPRESSION: count them on the
    live catalogue, so Thompson sampling's posteriors (and "new item" status) learn while serving.
    """

    def __init__(self, holder: ModelHolder) -> None:
        self._holder = holder

    def apply(self, events: Sequence[Event]) -> None:
        latest: dict[str, Event] = {}
        purchased: list[str] = []
        shown: list[str] = []
        for e in events:
            if e.is_item_upsert:
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
        texts = [latest[i].item_text for i in ids]
        prices = [latest[i].price for i in ids]
        self._holder.record_upserts(ids, texts, prices)
        self._holder.current.upsert_items(ids, texts, prices)
        metrics.UPSERTED.inc(len(ids))
        log.info(
            "catalogue: %d items upserted (now %d)", len(ids), len(self._holder.current.catalogue.current)
        )
