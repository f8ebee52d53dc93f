"""Kafka over SASL_SSL against a REALLY secured broker: the KRaft broker of deploy/kafka with
its only client listener SASL_SSL (a PLAIN user and a SCRAM-SHA-512 user, a PEM keystore and
CA generated here; inter-broker traffic on the same listener). Every Fulcrum Kafka client takes
its transport from FULCRUM_KAFKA_* (online/security/kafka.py):

- `fulcrum ingest` (consumer + topic admin + dead-letter producer) with the right password,
  read from a file, consumes and applies the events, dead-letters the bad one, and never prints
  the password, even with debug logging;
- the same command with a wrong password exits non-zero with one line naming the cause;
- a plaintext client does not get in; the server's catalogue follower reads the topic.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from fulcrum.core import schema as S
from fulcrum.v1 import recommender_pb2 as pb
from tests.fixtures.services import KafkaBroker, _ensure_kafka_ready, free_port, unique_topic, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
T = int(time.time() * 1000) - 60_000


#: mechanism -> the user the broker knows for it (PLAIN: in its JAAS config; SCRAM: created
#: through the admin API after start, stored salted in the cluster metadata)
USERS = {"PLAIN": "fulcrum-ingest", "SCRAM-SHA-512": "fulcrum-scram"}


@dataclass
class SecuredBroker:
    bootstrap: str
    root: Path
    password: str  # of the PLAIN user
    scram_password: str

    def env(self, password_file: Path | None = None, mechanism: str = "PLAIN") -> dict[str, str]:
        own = self.root / ("kafka.password" if mechanism == "PLAIN" else "kafka-scram.password")
        return {
            "FULCRUM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "FULCRUM_KAFKA_SASL_MECHANISM": mechanism,
            "FULCRUM_KAFKA_SASL_USERNAME": USERS[mechanism],
            "FULCRUM_KAFKA_SASL_PASSWORD_FILE": str(password_file or own),
            "FULCRUM_KAFKA_SSL_CAFILE": str(self.root / "ca.pem"),
        }


def _add_scram_user(bootstrap: str, root: Path, broker_password: str, user: str, password: str) -> None:
    """Kafka's own ConfigCommand (the jars of deploy/kafka) as the broker's PLAIN admin user."""
    admin = root / "admin.properties"
    admin.write_text(
        "security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n"
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="broker" password="{broker_password}";\n'
        f"ssl.truststore.type=PEM\nssl.truststore.location={root / 'ca.pem'}\n"
    )
    admin.chmod(0o600)
    lib = Path(__file__).resolve().parents[3] / "deploy" / "kafka" / "lib"
    run = subprocess.run(
        [os.environ.get("JAVA", "java"), "-Xmx256m", "-cp", f"{lib}/*", "kafka.admin.ConfigCommand",
         "--bootstrap-server", bootstrap, "--command-config", str(admin), "--alter", "--entity-type", "users",
         "--entity-name", user, "--add-config", f"SCRAM-SHA-512=[iterations=4096,password={password}]"],
        capture_output=True, text=True, timeout=180,
    )
    assert run.returncode == 0, run.stderr[-2000:]


@pytest.fixture(scope="module")
def sasl_ssl_broker(tmp_path_factory):
    from fulcrum.security.certs import make_ca, make_server_cert

    _ensure_kafka_ready()
    root = tmp_path_factory.mktemp("kafka-sasl-ssl")
    ca = make_ca("Fulcrum test Kafka CA", days=2)
    server = make_server_cert(ca, ("127.0.0.1", "localhost"), days=2)
    (root / "ca.pem").write_bytes(ca.cert_pem)
    keystore = root / "broker-keystore.pem"  # PKCS#8 key + certificate chain (ssl.keystore.type=PEM)
    keystore.write_bytes(server.key_pem + server.cert_pem + ca.cert_pem)
    password, broker_password = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    scram_password = secrets.token_urlsafe(24)
    (root / "kafka.password").write_text(password + "\n")
    (root / "kafka-scram.password").write_text(scram_password + "\n")
    port, cport = free_port(), free_port()
    jaas = (
        'org.apache.kafka.common.security.plain.PlainLoginModule required '
        f'username="broker" password="{broker_password}" '
        f'user_broker="{broker_password}" user_fulcrum-ingest="{password}";'
    )
    extra = root / "sasl_ssl.properties"
    extra.write_text(
        f"listeners=SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}\n"
        f"advertised.listeners=SASL_SSL://127.0.0.1:{port}\n"
        "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT\n"
        "inter.broker.listener.name=SASL_SSL\n"
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512\n"
        "sasl.mechanism.inter.broker.protocol=PLAIN\n"
        f"listener.name.sasl_ssl.plain.sasl.jaas.config={jaas}\n"
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required;\n"
        "ssl.keystore.type=PEM\n"
        f"ssl.keystore.location={keystore}\n"
        "ssl.truststore.type=PEM\n"
        f"ssl.truststore.location={root / 'ca.pem'}\n"
    )
    broker = KafkaBroker(root / "broker", port)
    broker._run("start", "--port", str(port), "--dir", str(broker.directory), "--controller-port", str(cport),
                "--extra-config", str(extra))
    try:
        _add_scram_user(broker.bootstrap, root, broker_password, USERS["SCRAM-SHA-512"], scram_password)
        yield SecuredBroker(broker.bootstrap, root, password, scram_password)
    finally:
        broker.stop()


def _event(k: int, user: str = "sasl-u") -> pb.Event:
    return pb.Event(event_id=f"sasl-{k}", type=pb.PURCHASE, user_id=user, item_id=f"i{k % 3}",
                    quantity=1.0, price=2.0, timestamp_ms=T + k)


def _ingest(broker: SecuredBroker, env: dict[str, str], topic: str, offline: Path, timeout: float = 240):
    cmd = [sys.executable, "-m", "fulcrum.cli", "--verbose", "ingest", "--bootstrap", broker.bootstrap,
           "--topic", topic, "--group", unique_topic("g"), "--offline-dir", str(offline), "--idle-exit", "6"]
    full_env = {**os.environ, "PYTHONPATH": os.getcwd(), **env}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
def test_fulcrum_ingest_over_sasl_ssl_consumes_applies_and_dead_letters(sasl_ssl_broker, mechanism,
                                                                        monkeypatch, tmp_path):
    from kafka import KafkaConsumer, KafkaProducer

    from online.ingest.producer import producer_settings
    from online.ingest.topics import ensure_topic
    from online.security.kafka import kafka_security

    env = sasl_ssl_broker.env(mechanism=mechanism)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    topic = unique_topic("sasl")
    assert ensure_topic(sasl_ssl_broker.bootstrap, topic)  # the admin client, over SASL_SSL
    producer = KafkaProducer(**producer_settings(sasl_ssl_broker.bootstrap))
    for k in range(5):
        producer.send(topic, key=b"sasl-u", value=_event(k).SerializeToString())
    producer.send(topic, value=_event(9, user="").SerializeToString())  # no user: a dead letter
    producer.flush()
    producer.close()

    offline = tmp_path / "offline"
    run = _ingest(sasl_ssl_broker, env, topic, offline)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    assert "ingest stopped: 5 applied, 1 rejected" in run.stdout
    assert "DEBUG" in output  # debug logging was on ...
    for secret in (sasl_ssl_broker.password, sasl_ssl_broker.scram_password):
        assert secret not in output  # ... and no password is anywhere in it
    applied = pd.concat([pd.read_parquet(p) for p in (offline / "ingested" / "events").glob("*.parquet")])
    assert sorted(applied[S.EVENT_ID]) == [f"sasl-{k}" for k in range(5)]

    # the dead letter was produced over SASL_SSL too: read it back with the same settings
    dlq = KafkaConsumer(f"{topic}.dlq", bootstrap_servers=sasl_ssl_broker.bootstrap, group_id=None,
                        auto_offset_reset="earliest", consumer_timeout_ms=20_000, **kafka_security())
    letters = []
    try:
        deadline = time.monotonic() + 60
        while not letters and time.monotonic() < deadline:
            for records in dlq.poll(timeout_ms=1000).values():
                letters += records
    finally:
        dlq.close()
    assert len(letters) == 1 and b"sasl-9" in letters[0].value


def test_a_wrong_password_fails_loudly_in_one_line(sasl_ssl_broker, tmp_path):
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password\n")
    started = time.monotonic()
    env = sasl_ssl_broker.env(wrong)
    run = _ingest(sasl_ssl_broker, env, unique_topic("sasl"), tmp_path / "o", timeout=180)
    output = run.stdout + run.stderr
    assert run.returncode != 0
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, run.stderr[-3000:]
    assert "authentication" in errors[0].lower() and "FULCRUM_KAFKA_SASL" in errors[0], errors[0]
    assert "Traceback" not in run.stderr
    assert "not-the-password" not in output and sasl_ssl_broker.password not in output
    assert time.monotonic() - started < 170  # it ended on its own (the subprocess timeout is 180 s)


def test_a_plaintext_client_does_not_get_in(sasl_ssl_broker, tmp_path):
    run = _ingest(sasl_ssl_broker, {}, unique_topic("sasl"), tmp_path / "o", timeout=180)
    assert run.returncode != 0
    assert [line for line in run.stderr.splitlines() if line.startswith("error:")], run.stderr[-2000:]


def test_the_catalogue_follower_reads_over_sasl_ssl(sasl_ssl_broker, monkeypatch):
    from kafka import KafkaProducer

    from online.ingest.producer import producer_settings
    from online.server.catalogue_follower import CatalogueFollower

    for name, value in sasl_ssl_broker.env().items():
        monkeypatch.setenv(name, value)
    topic = unique_topic("sasl-cat")
    producer = KafkaProducer(**producer_settings(sasl_ssl_broker.bootstrap))
    upsert = pb.Event(event_id="up-1", type=pb.ITEM_UPSERT, item_id="new-sku", item_text="a red lamp",
                      timestamp_ms=T)
    producer.send(topic, value=upsert.SerializeToString())
    producer.flush()
    producer.close()

    class Seen:
        def __init__(self):
            self.items: list[str] = []

        def apply(self, events):
            self.items += [e.item_id for e in events]

    seen = Seen()
    follower = CatalogueFollower(sasl_ssl_broker.bootstrap, topic, seen)
    try:
        wait_until(lambda: follower.poll_once() or seen.items, 90, interval=0.2, what="the upsert")
    finally:
        follower._stop.set()
        if follower._consumer is not None:
            follower._consumer.close()
    assert seen.items == ["new-sku"]
