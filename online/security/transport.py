"""Bind the server's port with the transport the config asks for, and build its auth layer.

TLS when ``security.tls_cert_file`` is set; plaintext only with ``allow_plaintext: true`` (and a
warning unless the host is loopback); otherwise start-up fails with one line naming the fields.

Loopback development mode (``effective_security``): a config that says nothing about transport
or credentials and listens on a loopback address (the default ``host``, 127.0.0.1) serves
plaintext without authentication, reachable from this machine only, with a warning at start-up.
Anything reachable from the network needs TLS (or an explicit ``allow_plaintext``).
``auth_interceptors`` returns the interceptor list (empty only with ``allow_unauthenticated``).
"""

from __future__ import annotations

import ipaddress
import logging

import grpc

from fulcrum.core.errors import ConfigError
from online.security.config import SecurityConfig

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def effective_security(security: SecurityConfig, host: str) -> SecurityConfig:
    """``security`` as the server applies it: the loopback development mode (module doc) when
    nothing about transport or credentials is configured and ``host`` is loopback."""
    configured = (
        security.tls
        or security.allow_plaintext
        or security.allow_unauthenticated
        or security.tokens
        or security.tokens_file is not None
        or security.identities
    )
    if configured or not is_loopback(host):
        return security
    log.warning(
        "no security configured and host %s is loopback: plaintext, no authentication, reachable "
        "from this machine only (to serve on the network configure security.*: docs/security.md)",
        host,
    )
    return security.model_copy(update={"allow_plaintext": True, "allow_unauthenticated": True})


def check_security(security: SecurityConfig, host: str) -> None:
    """The rules between fields, checked before anything binds (ConfigError names the fields)."""
    if security.tls and security.allow_plaintext:
        raise ConfigError("security.allow_plaintext: true contradicts tls_cert_file (pick one)")
    if (security.tls_cert_file is None) != (security.tls_key_file is None):
        raise ConfigError("security.tls_cert_file and security.tls_key_file: set both (or neither)")
    if security.tls_client_ca_file is not None and not security.tls:
        raise ConfigError("security.tls_client_ca_file: mutual TLS needs tls_cert_file and tls_key_file")
    if not security.tls and not security.allow_plaintext:
        raise ConfigError(
            "security: no TLS configured: set security.tls_cert_file and security.tls_key_file "
            "(see docs/security.md; `fulcrum security dev-setup` writes a development set), or "
            "security.allow_plaintext: true for a loopback demo (with no security block at all, "
            "a loopback host serves plaintext to this machine only)"
        )
    if security.allow_unauthenticated and (security.tokens or security.tokens_file or security.identities):
        raise ConfigError(
            "security.allow_unauthenticated: true contradicts the configured tokens/identities (pick one)"
        )
    if security.allow_plaintext and not is_loopback(host):
        log.warning("PLAINTEXT gRPC on %s: anyone on the network can read and forge calls", host)
    if security.allow_unauthenticated:
        log.warning("authentication is OFF (security.allow_unauthenticated): every caller may call every RPC")


def bind(server: grpc.aio.Server, security: SecurityConfig, address: str) -> int:
    """Add the listening port (TLS or allowed plaintext); returns the bound port."""
    check_security(security, address.rsplit(":", 1)[0])
    if security.tls:
        from online.security.tls import server_credentials

        port = server.add_secure_port(address, server_credentials(security))
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"could not bind {address}")
    return port


def auth_interceptors(security: SecurityConfig) -> list[grpc.aio.ServerInterceptor]:
    if security.allow_unauthenticated:
        return []
    from online.security.authenticator import Authenticator
    from online.security.interceptor import AuthInterceptor

    return [AuthInterceptor(Authenticator(security))]


def bundle_public_key(security: SecurityConfig):
    """The ed25519 key bundles must be signed with, or None (logged: signatures not checked)."""
    if security.bundle_public_key_file is None:
        log.warning("bundle signatures are not checked (security.bundle_public_key_file not set)")
        return None
    from fulcrum.core.bundle_signature import load_public_key

    path = security.bundle_public_key_file
    try:
        return load_public_key(path.read_bytes())
    except OSError as e:
        raise ConfigError(f"security.bundle_public_key_file: cannot read {path} ({e.strerror})") from e
    except ValueError as e:
        raise ConfigError(f"security.bundle_public_key_file: {path}: {e}") from e
