"""Choosing and wiring the sinks and the Kafka door from one validated config.

``build_sink(config)`` returns the sink ``fulcrum ingest`` applies events to:

- ``feature_repo`` set: the Feast online-store sink from ``online.features.sink`` (written by the
  feature-store component; imported lazily so this module needs no feast),
- ``offline_dir`` set: :class:`OfflineAppendSink` (events for retraining),
- ``memory=True``: the in-memory sink (benchmarks, demos without a store).

Several choices compose into a :class:`FanoutSink` (online store first, then the offline append),
wrapped in ``ForgetAwareSink`` (online/privacy/tombstones.py) when there is a store to protect.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from online.ingest.sink import EventSink, FanoutSink

log = logging.getLogger(__name__)

#: where the feature-store component's sink lives (``FeastEventSink(store, item_embedder)``)
FEAST_SINK_MODULE = "online.features.sink"


@dataclass(frozen=True)
class SinkConfig:
    feature_repo: Path | None = None
    offline_dir: Path | None = None
    memory: bool = False
    #: Feast online store configuration (sqlite | redis) and Redis URL, passed to the Feast sink
    feature_store: str | None = None
    redis_url: str | None = None
    #: the serving bundle, whose item encoder embeds ITEM_UPSERT texts
    bundle: Path | None = None
    #: an ITEM_UPSERT of an item the bundle knows replaces its learned vector (default: keeps it,
    #: only the text changes)
    replace_bundle_vectors: bool = False

    def __post_init__(self) -> None:
        if self.feature_repo is None and self.offline_dir is None and not self.memory:
            raise ValueError(
                "sink: choose at least one of feature_repo (--feature-repo), offline_dir (--offline-dir) "
                "or memory (--memory)"
            )
        if self.feature_repo is not None and not Path(self.feature_repo).is_dir():
            raise ValueError(f"feature_repo: {self.feature_repo} is not a folder")
        if self.bundle is not None and not Path(self.bundle).is_dir():
            raise ValueError(f"bundle: {self.bundle} is not a folder")
        if self.feature_repo is not None:
            from fulcrum.core.user_state import configured_caps

            configured_caps()  # FULCRUM_USER_SET_MAX, checked at start-up (ValueError names it)


def _bundle_vectors(bundle: Path, replace_learned: bool) -> tuple[Any, Any]:
    """(texts -> (n, d) array embedded ``EMBED_CHUNK`` at a time with the bundle's item encoder
    (ONNX Runtime, no torch); ids -> learned vectors to keep for the bundle's own items, or None
    when upserts replace them)."""
    from fulcrum.core.bundle.loader import load_bundle
    from online.inference.chunked import embed_chunked

    loaded = load_bundle(Path(bundle), with_ann=False)  # it embeds new items, never retrieves
    encoder, catalogue = loaded.text_encoder, loaded.catalogue
    dim = catalogue.dim

    def embed(texts: Any) -> Any:
        return embed_chunked(encoder, list(texts), dim)

    def keep(ids: Any) -> dict[str, Any]:
        index = catalogue.index
        return {i: catalogue.embeddings[index[i]] for i in ids if i in index}

    return embed, (None if replace_learned else keep)


def _feast_sink(config: SinkConfig) -> EventSink:
    try:
        sink_module = importlib.import_module(FEAST_SINK_MODULE)
        store_module = importlib.import_module("fulcrum.core.feature_store")
    except ModuleNotFoundError as e:
        if e.name and e.name.startswith("online.features"):
            raise RuntimeError(
                f"feature_repo: this installation has no Feast sink ({FEAST_SINK_MODULE} is missing); "
                "install Fulcrum with the serve extra, or use --offline-dir or --memory"
            ) from e
        raise ImportError(f"the Feast sink needs {e.name}: pip install -e '.[serve]'") from e
    store = store_module.open_store(config.feature_repo, config.feature_store, config.redis_url)
    embedder = keep = None
    if config.bundle is not None:
        embedder, keep = _bundle_vectors(config.bundle, config.replace_bundle_vectors)
    else:
        log.warning("no --bundle: ITEM_UPSERT events update item texts but are not embedded")
    return sink_module.FeastEventSink(store, item_embedder=embedder, keep_vectors=keep)


def build_sink(config: SinkConfig) -> EventSink:
    sinks: list[EventSink] = []
    store = None
    if config.feature_repo is not None:
        sinks.append(_feast_sink(config))
        store = getattr(sinks[-1], "_store", None)
    if config.memory:
        from online.ingest.memory_sink import MemorySink

        sinks.append(MemorySink(keep_events=False))
    if config.offline_dir is not None:
        from online.ingest.offline_sink import OfflineAppendSink

        sinks.append(OfflineAppendSink(config.offline_dir))
    sink = sinks[0] if len(sinks) == 1 else FanoutSink(sinks)
    from online.privacy.tombstones import forget_aware  # forgotten users' events are dropped

    return forget_aware(
        sink, offline_dir=config.offline_dir, feature_repo=config.feature_repo, feature_store=store
    )


def build_dedupe(redis_url: str | None, ttl_s: int | None = None):
    """The idempotency store: Redis-backed when a URL is given, else in-process."""
    from online.ingest.dedupe import DEFAULT_TTL_S, MemoryDedupe, RedisDedupe

    if redis_url:
        return RedisDedupe.from_url(redis_url, ttl_s=ttl_s or DEFAULT_TTL_S)
    return MemoryDedupe()


def build_kafka_ingest(consumer_config: Any, sink: EventSink, dedupe: Any = None) -> tuple[Any, Any]:
    """A ready :class:`IngestConsumer` with its DLQ producer: returns (consumer, producer)."""
    from kafka import KafkaProducer

    from online.ingest.consumer import IngestConsumer
    from online.ingest.dlq import KafkaDeadLetter
    from online.ingest.pipeline import IngestPipeline
    from online.ingest.producer import producer_settings

    producer = KafkaProducer(**producer_settings(consumer_config.bootstrap, client_id="fulcrum-ingest-dlq"))
    dlq = KafkaDeadLetter(producer, consumer_config.dead_letter_topic)
    pipeline = IngestPipeline(sink, dedupe=dedupe, dlq=dlq, door="kafka")
    return IngestConsumer(consumer_config, pipeline), producer
