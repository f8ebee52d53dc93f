"""Prometheus metrics of ingestion (registered once per process, labelled by door and topic).

- ``fulcrum_ingest_consumed_total{door}``: records/events received (before validation)
- ``fulcrum_ingest_applied_total{door}``: events applied to the sinks (new, valid)
- ``fulcrum_ingest_duplicates_total{door}``: events skipped because their id was already applied
- ``fulcrum_ingest_rejected_total{door,reason}``: invalid events, reason = a fixed
  ``online.ingest.reasons.RejectCode`` value (``field:kind``)
- ``fulcrum_ingest_dlq_dropped_total{reason}``: dead letters the DLQ topic refused for good
  (non-retriable), logged at ERROR instead of retried forever
- ``fulcrum_ingest_sink_unavailable_total{door}``: batches that hit an unavailable sink (retried)
- ``fulcrum_ingest_push_seconds{door}``: time to apply one batch to the sinks
- ``fulcrum_ingest_assigned_partitions``: partitions this consumer owns (0: a hot spare)
- ``fulcrum_ingest_consumer_lag{topic,partition}``: Kafka high-water mark minus the consumer
  position; it keeps growing while the sinks are down and nothing is committed
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONSUMED = Counter("fulcrum_ingest_consumed", "Events received by ingestion, before validation", ["door"])
APPLIED = Counter("fulcrum_ingest_applied", "Events applied to the sinks", ["door"])
DUPLICATES = Counter("fulcrum_ingest_duplicates", "Events skipped as already applied", ["door"])
REJECTED = Counter(
    "fulcrum_ingest_rejected", "Invalid events sent to the dead-letter path", ["door", "reason"]
)
DLQ_DROPPED = Counter(
    "fulcrum_ingest_dlq_dropped", "Dead letters refused for good by the DLQ topic", ["reason"]
)
FORGOTTEN_DROPPED = Counter(
    "fulcrum_ingest_forgotten_dropped", "Events of forgotten users dropped (online/privacy/tombstones.py)",
    ["door"],
)
SINK_UNAVAILABLE = Counter(
    "fulcrum_ingest_sink_unavailable", "Batches that found a sink unavailable", ["door"]
)
PUSH_SECONDS = Histogram(
    "fulcrum_ingest_push_seconds",
    "Time to apply one batch to the sinks",
    ["door"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
ASSIGNED = Gauge("fulcrum_ingest_assigned_partitions", "Partitions assigned to this consumer")
CONSUMER_LAG = Gauge(
    "fulcrum_ingest_consumer_lag", "High-water mark minus consumer position", ["topic", "partition"]
)
