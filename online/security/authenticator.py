"""Who is calling, from the request's bearer token and/or its verified client certificate.

``Authenticator.authenticate(metadata, auth_context)`` returns a ``Principal`` (a name for logs and
its roles) or raises ``Unauthenticated``: no credential at all, a malformed ``authorization``
header, or a token that matches no stored digest (a wrong token is never ignored in favour of
another credential). A client certificate has already been verified against
``tls_client_ca_file`` by the TLS handshake; its subject CN and SANs are looked up in
``identities``. A caller holding both gets the union of the roles.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from fulcrum.core.errors import ConfigError, Unauthenticated
from online.security.config import SecurityConfig
from online.security.tokens import Principal, TokenTable, bearer, read_tokens_file

log = logging.getLogger(__name__)

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


#: how often (seconds) the tokens file's modification time is looked at
TOKENS_RECHECK_S = 5.0


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class Authenticator:
    """Tokens from the config and ``tokens_file``; the file is re-read when it changes (checked
    every ``TOKENS_RECHECK_S`` at most), so a token is added or revoked by updating the mounted
    Secret, without a restart. A changed file that does not parse is refused with a warning and
    the previous tokens stay."""

    def __init__(self, security: SecurityConfig) -> None:
        self._inline = list(security.tokens)
        self._file = Path(security.tokens_file) if security.tokens_file is not None else None
        self._stamp = _stamp(self._file) if self._file else None
        self._checked = time.monotonic()
        self.tokens = self._table()
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

    def _table(self) -> TokenTable:
        entries = list(self._inline)
        if self._file is not None:
            entries += read_tokens_file(self._file)
        return TokenTable(entries)

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if self._file is None or now - self._checked < TOKENS_RECHECK_S:
            return
        self._checked = now
        stamp = _stamp(self._file)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            self.tokens = self._table()
        except ConfigError as e:
            log.warning("tokens file changed but was not loaded, keeping the previous tokens: %s", e)
            return
        log.info("tokens file changed: %d tokens loaded", len(self.tokens))

    def authenticate(
        self, metadata: Iterable[tuple[str, str | bytes]] | None, auth_context: Mapping | None
    ) -> Principal:
        self._maybe_reload()
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
