"""Kafka transport settings from FULCRUM_KAFKA_*: valid kafka-python settings for every client,
plaintext unchanged when nothing is set, clear errors, the password only from its file."""

from __future__ import annotations

import pytest

from online.security.kafka import kafka_security

SASL = "FULCRUM_KAFKA_SECURITY_PROTOCOL"


def test_nothing_set_is_plaintext_as_before():
    assert kafka_security({}) == {}


def test_sasl_ssl_settings_are_kafka_python_settings_of_every_client(tmp_path):
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

    (tmp_path / "ca.pem").write_text("x")
    (tmp_path / "pw").write_text("s3cret\n")
    env = {
        "FULCRUM_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
        "FULCRUM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "FULCRUM_KAFKA_SASL_USERNAME": "fulcrum-ingest",
        "FULCRUM_KAFKA_SASL_PASSWORD_FILE": str(tmp_path / "pw"),
        "FULCRUM_KAFKA_SSL_CAFILE": str(tmp_path / "ca.pem"),
    }
    got = kafka_security(env)
    assert got == {
        "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "fulcrum-ingest", "sasl_plain_password": "s3cret",
        "ssl_cafile": str(tmp_path / "ca.pem"),
    }
    for client in (KafkaConsumer, KafkaProducer, KafkaAdminClient):
        assert set(got) <= set(client.DEFAULT_CONFIG), client.__name__


def test_the_settings_reach_the_producer_and_consumer_settings(tmp_path, monkeypatch):
    from online.ingest.consumer_config import ConsumerConfig, consumer_settings
    from online.ingest.producer import producer_settings

    (tmp_path / "ca.pem").write_text("x")
    monkeypatch.setenv("FULCRUM_KAFKA_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("FULCRUM_KAFKA_SSL_CAFILE", str(tmp_path / "ca.pem"))
    assert producer_settings("k:9093")["security_protocol"] == "SSL"
    config = ConsumerConfig(bootstrap="k:9093", topic="events")
    assert consumer_settings(config)["ssl_cafile"] == str(tmp_path / "ca.pem")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FULCRUM_KAFKA_SECURITY_PROTOCOL": "TLS"}, "SECURITY_PROTOCOL"),
        ({SASL: "SASL_SSL", "FULCRUM_KAFKA_SASL_MECHANISM": "GSSAPI"}, "SASL_MECHANISM"),
        ({SASL: "SASL_SSL", "FULCRUM_KAFKA_SASL_MECHANISM": "PLAIN"}, "both needed"),
        ({"FULCRUM_KAFKA_SSL_CAFILE": "/etc/hosts"}, "no TLS"),
        ({"FULCRUM_KAFKA_SECURITY_PROTOCOL": "SSL", "FULCRUM_KAFKA_SSL_CAFILE": "/nope.pem"}, "not a file"),
    ],
)
def test_inconsistent_settings_are_refused_naming_the_variable(env, message):
    with pytest.raises(ValueError, match=message):
        kafka_security(env)
