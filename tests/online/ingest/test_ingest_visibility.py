"""Kafka -> ingest pipeline -> features -> Recommend: a purchase produced to the REAL broker stops
being recommended to that user (the anti-recommendation goes live), measured with the code of
`fulcrum bench ingest --bundle` (online/ingest/visibility.py) against a real gRPC server.

The feature store here is the server's in-memory one (it is also an EventSink); the Feast path is
covered by tests/online/ingest/test_ingest_feast.py (Kafka -> Feast) and
tests/online/features/test_serve_feast.py (Feast ->
Recommend). The delay is printed, not asserted (the 1 s bar is the benchmark's); the test asserts
that every purchase became invisible before a generous deadline and was applied once.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.kafka


def test_purchase_on_kafka_is_excluded_from_the_next_recommend(kafka_bootstrap: str, tmp_path) -> None:
    from online.ingest.visibility import embedded_visibility
    from tests.serving_helpers import make_bundle

    bundle = make_bundle(tmp_path / "bundle")
    result = embedded_visibility(kafka_bootstrap, bundle, samples=5, timeout_s=15.0)
    print(f"event-to-visible latency: {result}")
    assert result["samples"] == 5 and result["misses"] == 0
    assert result["applied"] == 5  # one purchase per sample, each applied once
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]


@pytest.mark.slow
def test_purchase_on_kafka_is_excluded_through_the_real_feast_store(kafka_bootstrap: str, tmp_path) -> None:
    # the deployment path: Kafka -> FeastEventSink -> Feast online store (SQLite) -> the server's
    # FeastFeatureSource -> Recommend's anti-recommendation
    pytest.importorskip("feast")
    from offline.features.pipeline import build_features
    from online.ingest.visibility import embedded_visibility
    from tests.feature_repo_copy import copy_repo, synthetic_events
    from tests.serving_helpers import make_bundle

    repo = copy_repo(tmp_path / "feast")
    build_features(synthetic_events(n=60), repo, store="sqlite")
    bundle = make_bundle(tmp_path / "bundle")
    result = embedded_visibility(kafka_bootstrap, bundle, samples=3, timeout_s=30.0, feature_repo=repo)
    print(f"event-to-visible latency through Feast: {result}")
    assert result["samples"] == 3 and result["misses"] == 0 and result["applied"] == 3
