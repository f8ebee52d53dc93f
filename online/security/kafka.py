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
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
    env = os.environ if env is None else env

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
