"""Server TLS credentials from PEM files, re-read when they change (rotation without restart).

``server_credentials(security)`` checks the files at start-up (readable, the key matches the
certificate, the certificate is currently valid: ``ConfigError`` naming the field otherwise) and
returns ``grpc.dynamic_ssl_server_credentials``: at each new TLS handshake gRPC asks
``CertificateFiles.fetch`` for a configuration, which re-reads the files only when their
modification time or size changed. A rotated pair that does not load is refused with a warning
and the previous one stays in use, so a half-written rotation never breaks the listener.
With ``tls_client_ca_file`` the server requires and verifies a client certificate (mutual TLS).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from pathlib import Path

import grpc

from fulcrum.core.errors import ConfigError
from online.security.config import SecurityConfig

log = logging.getLogger(__name__)


def _crypto():
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
    except ImportError as e:  # pragma: no cover - the serve extra installs it
        raise ConfigError("TLS needs the 'cryptography' package: pip install 'fulcrum[serve]'") from e
    return x509, serialization


def _read(path: Path, field: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ConfigError(f"security.{field}: cannot read {path} ({e.strerror})") from e


def check_pair(cert_pem: bytes, key_pem: bytes, now: dt.datetime | None = None) -> str:
    """Raise ValueError unless the key matches the first certificate and it is valid now;
    returns the certificate's subject (for the log)."""
    x509, serialization = _crypto()
    try:
        cert = x509.load_pem_x509_certificates(cert_pem)[0]
    except ValueError as e:
        raise ValueError(f"not a PEM certificate ({e})") from e
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as e:
        raise ValueError("not an unencrypted PEM private key") from e
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    if key.public_key().public_bytes(enc, pub) != cert.public_key().public_bytes(enc, pub):
        raise ValueError("the private key does not belong to the certificate")
    now = now or dt.datetime.now(dt.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise ValueError(
            f"the certificate is valid from {cert.not_valid_before_utc:%Y-%m-%d} to "
            f"{cert.not_valid_after_utc:%Y-%m-%d}, not now"
        )
    return cert.subject.rfc4514_string()


def _stamp(paths: list[Path]) -> tuple:
    out: list[tuple[int, int, int] | None] = []
    for p in paths:
        try:
            st = os.stat(p)
            out.append((st.st_mtime_ns, st.st_size, st.st_ino))
        except OSError:
            out.append(None)
    return tuple(out)


class CertificateFiles:
    """The server's certificate configuration, rebuilt when the files change."""

    def __init__(self, security: SecurityConfig) -> None:
        if security.tls_cert_file is None or security.tls_key_file is None:
            raise ConfigError("security.tls_cert_file and security.tls_key_file: set both (or neither)")
        self._cert = Path(security.tls_cert_file)
        self._key = Path(security.tls_key_file)
        self._ca = Path(security.tls_client_ca_file) if security.tls_client_ca_file else None
        self._paths = [p for p in (self._cert, self._key, self._ca) if p is not None]
        self._lock = threading.Lock()
        self._stamp = _stamp(self._paths)
        try:
            self.initial = self._build()
        except ValueError as e:
            raise ConfigError(f"security.tls_cert_file/tls_key_file: {self._cert}: {e}") from e

    def _build(self):
        cert = _read(self._cert, "tls_cert_file")
        key = _read(self._key, "tls_key_file")
        ca = _read(self._ca, "tls_client_ca_file") if self._ca else None
        subject = check_pair(cert, key)
        if ca is not None:
            x509, _ = _crypto()
            try:
                x509.load_pem_x509_certificates(ca)
            except ValueError as e:
                raise ValueError(f"security.tls_client_ca_file {self._ca}: not PEM certificates") from e
        log.info("TLS certificate %s%s", subject, " (mutual TLS)" if ca else "")
        return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=ca)

    def fetch(self):
        """gRPC's per-handshake callback: a new configuration when the files changed, else None."""
        with self._lock:
            stamp = _stamp(self._paths)
            if stamp == self._stamp:
                return None
            self._stamp = stamp
            try:
                config = self._build()
            except (ValueError, ConfigError) as e:
                log.warning("rotated TLS files not loaded, keeping the previous certificate: %s", e)
                return None
            log.info("TLS certificate files changed: reloaded")
            return config


def server_credentials(security: SecurityConfig) -> grpc.ServerCredentials:
    files = CertificateFiles(security)
    return grpc.dynamic_ssl_server_credentials(
        files.initial, files.fetch, require_client_authentication=security.mutual_tls
    )
