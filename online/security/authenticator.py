"""Who is calling, from the request's bearer token and/or its verified client certificate.

``Authenticator.authenticate(metadata, auth_context)`` returns a ``Principal`` (a name for logs and
its roles) or raises ``Unauthenticated``: no credential at all, a malformed ``authorization``
header, or a token that matches no stored digest (a wrong token is never ignored in favour of
another credential). A client certificate has already been verified against
``tls_client_ca_file`` by the TLS handshake; its subject CN and SANs are looked up in
``identities``. A caller holding both gets the union of the roles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from online.errors import ConfigError, Unauthenticated
from online.security.config import SecurityConfig
from online.security.tokens import Principal, TokenTable, bearer, read_tokens_file

CN_KEY = "x509_common_name"
SAN_KEY = "x509_subject_alternative_name"


def _names(auth_context: Mapping[str, Sequence[bytes]] | None) -> list[str]:
    if not auth_context:
        return []
    out = []
    for key in (CN_KEY, SAN_KEY):
        for value in auth_context.get(key, ()):
            out.append(value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value))
    return out


class Authenticator:
    def __init__(self, security: SecurityConfig) -> None:
        entries = list(security.tokens)
        if security.tokens_file is not None:
            entries += read_tokens_file(security.tokens_file)
        self.tokens = TokenTable(entries)
        self.identities = {name: frozenset(roles) for name, roles in security.identities.items()}
        if self.identities and not security.mutual_tls:
            raise ConfigError(
                "security.identities: certificate identities need mutual TLS; set tls_client_ca_file"
            )
        if not len(self.tokens) and not security.mutual_tls:
            raise ConfigError(
                "security: no credential configured: set tokens_file (or tokens) and/or "
                "tls_client_ca_file with identities, or allow_unauthenticated: true (loopback demo only)"
            )
        self.uses_certificates = security.mutual_tls

    def authenticate(
        self, metadata: Iterable[tuple[str, str | bytes]] | None, auth_context: Mapping | None
    ) -> Principal:
        found: list[Principal] = []
        token = bearer(metadata)
        if token is not None:
            if not token:
                raise Unauthenticated("authorization: expected 'Bearer <token>'")
            principal = self.tokens.lookup(token)
            if principal is None:
                raise Unauthenticated("authorization: token not accepted")
            found.append(principal)
        names = _names(auth_context) if self.uses_certificates else []
        for name in names:
            roles = self.identities.get(name)
            if roles is not None:
                found.append(Principal(f"cert:{name}", roles))
        if not found:
            if names:
                # a certificate of our CA whose names map to no role: known to TLS, not to us
                return Principal(f"cert:{names[0]}", frozenset())
            raise Unauthenticated(
                "no credential: send 'authorization: Bearer <token>'"
                + (" or a client certificate" if self.uses_certificates else "")
            )
        if len(found) == 1:
            return found[0]
        return Principal("+".join(p.name for p in found), frozenset().union(*(p.roles for p in found)))
