"""Kafka transport security for every Fulcrum Kafka client (consumer, producer, admin, the
server's catalogue follower), from environment variables, secrets from files:

| variable | kafka-python setting |
|---|---|
| ``FULCRUM_KAFKA_SECURITY_PROTOCOL`` | ``security_protocol``: PLAINTEXT (default), SSL, SASL_SSL, |
| | SASL_PLAINTEXT |
| ``FULCRUM_KAFKA_SASL_MECHANISM`` | ``sasl_mechanism``: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 |
| ``FULCRUM_KAFKA_SASL_USERNAME`` | ``sasl_plain_username`` |
| ``FULCRUM_KAFKA_SASL_PASSWORD_FILE`` | ``sasl_plain_password``, read from the file (a mounted Secret) |
| ``FULCRUM_KAFKA_SSL_CAFILE`` | ``ssl_cafile``: the brokers' CA |
| ``FULCRUM_KAFKA_SSL_CERTFILE``, ``FULCRUM_KAFKA_SSL_KEYFILE`` | client certificate (mutual TLS) |

Nothing set: ``{}`` (plaintext, as before). Inconsistent settings raise ``ValueError`` naming
the variable; the password is never part of a message.

kafka-python does not raise an authentication or TLS failure: it logs the cause and the client
times out ("Unable to bootstrap"). ``watch_kafka_access()`` remembers that logged cause, so a
command can say in one line why it could not connect (``KafkaAccessWatch.explain``).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fulcrum.core import environment

log = logging.getLogger(__name__)

PREFIX = "FULCRUM_KAFKA_"
PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_SSL", "SASL_PLAINTEXT")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
ENV_VARS = tuple(
    PREFIX + n
    for n in ("SECURITY_PROTOCOL", "SASL_MECHANISM", "SASL_USERNAME", "SASL_PASSWORD_FILE", "SSL_CAFILE",
              "SSL_CERTFILE", "SSL_KEYFILE")
)


def kafka_security(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """kafka-python keyword settings for the configured transport (``{}``: plaintext)."""
    env = environment.current(env)

    def get(name: str) -> str | None:
        value = env.get(PREFIX + name, "").strip()
        return value or None

    protocol = (get("SECURITY_PROTOCOL") or "PLAINTEXT").upper()
    if protocol not in PROTOCOLS:
        raise ValueError(f"{PREFIX}SECURITY_PROTOCOL: {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    out: dict[str, Any] = {}
    if protocol != "PLAINTEXT":
        out["security_protocol"] = protocol
    files = (("SSL_CAFILE", "ssl_cafile"), ("SSL_CERTFILE", "ssl_certfile"), ("SSL_KEYFILE", "ssl_keyfile"))
    for name, key in files:
        value = get(name)
        if value is not None:
            if "SSL" not in protocol:
                raise ValueError(f"{PREFIX}{name}: set, but {PREFIX}SECURITY_PROTOCOL is {protocol} (no TLS)")
            if not Path(value).is_file():
                raise ValueError(f"{PREFIX}{name}: {value} is not a file")
            out[key] = value
    if protocol.startswith("SASL"):
        mechanism, user = get("SASL_MECHANISM"), get("SASL_USERNAME")
        password_file = get("SASL_PASSWORD_FILE")
        if mechanism not in MECHANISMS:
            raise ValueError(f"{PREFIX}SASL_MECHANISM: {mechanism!r} is not one of {', '.join(MECHANISMS)}")
        if not user or not password_file:
            raise ValueError(
                f"{PREFIX}SASL_USERNAME and {PREFIX}SASL_PASSWORD_FILE: both needed with {protocol}"
            )
        try:
            password = Path(password_file).read_text().strip()
        except OSError as e:
            raise ValueError(f"{PREFIX}SASL_PASSWORD_FILE: cannot read {password_file} ({e.strerror})") from e
        if not password:
            raise ValueError(f"{PREFIX}SASL_PASSWORD_FILE: {password_file} is empty")
        out.update(sasl_mechanism=mechanism, sasl_plain_username=user, sasl_plain_password=password)
        if protocol == "SASL_PLAINTEXT":
            log.warning("Kafka SASL over PLAINTEXT: credentials and events cross the network unencrypted")
    return out


class KafkaAccessWatch(logging.Handler):
    """Remembers the kinds of connection failure kafka-python logs (never their text, which is
    the broker's; a password is never in it, but the user name could be)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.auth_failed = False
        self.tls_failed = False

    def emit(self, record: logging.LogRecord) -> None:
        from kafka.errors import AuthorizationError, SaslAuthenticationFailedError

        args = record.args if isinstance(record.args, tuple) else ()
        causes = [a for a in args if isinstance(a, BaseException)]
        if record.exc_info and record.exc_info[1] is not None:
            causes.append(record.exc_info[1])
        for cause in causes:
            if isinstance(cause, SaslAuthenticationFailedError | AuthorizationError):
                self.auth_failed = True
            elif isinstance(cause, ssl.SSLError):
                self.tls_failed = True

    def explain(self, bootstrap: str, env: Mapping[str, str] | None = None) -> str | None:
        """One line naming the cause and the settings to fix, or None when none was seen."""
        env = environment.current(env)
        if self.auth_failed:
            mechanism = env.get(PREFIX + "SASL_MECHANISM", "").strip() or "?"
            return (
                f"Kafka authentication failed at {bootstrap} (SASL {mechanism}): check "
                f"{PREFIX}SASL_USERNAME and the password in {PREFIX}SASL_PASSWORD_FILE"
            )
        if self.tls_failed:
            return (
                f"TLS handshake with the Kafka broker at {bootstrap} failed: check "
                f"{PREFIX}SECURITY_PROTOCOL and {PREFIX}SSL_CAFILE (the brokers' CA)"
            )
        return None


@contextmanager
def watch_kafka_access() -> Iterator[KafkaAccessWatch]:
    """Attach a ``KafkaAccessWatch`` to kafka-python's loggers for the ``with`` block."""
    watch = KafkaAccessWatch()
    logger = logging.getLogger("kafka")
    logger.addHandler(watch)
    try:
        yield watch
    finally:
        logger.removeHandler(watch)
