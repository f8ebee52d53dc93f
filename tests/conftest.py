"""Shared pytest setup. Service fixtures (real Kafka, real Redis) and model fixtures (tiny BERT,
tiny bundle) live in tests/fixtures/ and are loaded here."""

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.models",
]

# The fixtures that start a real service, and the marker a test using one must carry: `make
# test-fast` (-m "not kafka and not redis and not slow") then never starts a broker or Redis.
SERVICE_FIXTURES = {"kafka_broker": "kafka", "kafka_bootstrap": "kafka", "fresh_kafka_broker": "kafka",
                    "redis_url": "redis"}


def pytest_collection_modifyitems(config, items):
    import pytest

    unmarked = sorted(
        f"{item.nodeid} uses {fixture} without @pytest.mark.{marker}"
        for item in items
        for fixture, marker in SERVICE_FIXTURES.items()
        if fixture in getattr(item, "fixturenames", ()) and item.get_closest_marker(marker) is None
    )
    if unmarked:
        raise pytest.UsageError("service fixtures need their marker:\n" + "\n".join(unmarked))
