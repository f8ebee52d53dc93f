"""Streaming ingestion: raw events from Kafka or gRPC IngestEvents -> validate -> dedupe -> sinks.

- ``pipeline.py``: the one pipeline both doors feed (decode, validate, dedupe, apply, dead-letter).
- ``sink.py``: the ``EventSink`` protocol, ``SinkUnavailable`` and ``FanoutSink``.
- ``memory_sink.py`` / ``offline_sink.py``: the in-memory test double and the retraining appender.
- ``dedupe.py``: the idempotency store (in-memory LRU, optionally Redis with a TTL).
- ``consumer.py``: the Kafka consumer group loop (at-least-once, DLQ, back-off).
- ``factory.py``: ``build_sink(config)`` chooses the sinks (Feast sink imported lazily).
"""
