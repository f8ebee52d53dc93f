"""Shared pytest setup. Service fixtures (real Kafka, real Redis) and model fixtures (tiny BERT,
tiny bundle) live in tests/fixtures/ and are loaded here."""

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.models",
]
