"""Bearer tokens: stored as sha256 digests, presented as ``authorization: Bearer <token>``.

The server never holds a token in clear: the config (or a mounted Secret file) lists
``{name, sha256, roles}``, and a presented token is hashed and compared with EVERY stored digest
in constant time (``hmac.compare_digest``), so neither the comparison nor an early exit tells a
caller how close it came. Tokens are random (``new_token``: 256 bits), so an unsalted sha256 is
enough: there is no dictionary to attack. Nothing here logs a token or its digest.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from fulcrum.core.errors import ConfigError
from online.security.config import TokenEntry

HEADER = "authorization"
SCHEME = "bearer"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random token (43 URL-safe characters, 256 bits)."""
    return secrets.token_urlsafe(32)


def bearer(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    """The token of the first ``authorization`` header, '' when malformed, None when absent."""
    for key, value in metadata or ():
        if key == HEADER:
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            scheme, _, token = text.strip().partition(" ")
            return token.strip() if scheme.lower() == SCHEME else ""
    return None


@dataclass(frozen=True)
class Principal:
    """Who is calling: a name for logs (never the credential) and the roles it holds."""

    name: str
    roles: frozenset[str]


class TokenTable:
    def __init__(self, entries: Sequence[TokenEntry]) -> None:
        names = [e.name for e in entries]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ConfigError(f"security.tokens: duplicate token names {dupes}")
        self._entries = [
            (bytes.fromhex(e.sha256), Principal(f"token:{e.name}", frozenset(e.roles))) for e in entries
        ]

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, token: str) -> Principal | None:
        """The principal whose digest matches ``token``; every entry is compared."""
        digest = hashlib.sha256(token.encode("utf-8")).digest()
        found = None
        for stored, principal in self._entries:
            if hmac.compare_digest(stored, digest) and found is None:
                found = principal
        return found


def read_tokens_file(path: Path) -> list[TokenEntry]:
    """``tokens: [{name, sha256, roles}]`` from a YAML or JSON file; ConfigError naming the problem."""
    import yaml

    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ConfigError(f"security.tokens_file: cannot read {path} ({e.strerror})") from e
    try:
        data = yaml.safe_load(text) if not str(path).endswith(".json") else json.loads(text)
    except (yaml.YAMLError, ValueError) as e:
        raise ConfigError(f"security.tokens_file: {path} is not valid YAML/JSON") from e
    if not isinstance(data, dict) or not isinstance(data.get("tokens"), list):
        raise ConfigError(f"security.tokens_file: {path} must hold 'tokens: [{{name, sha256, roles}}]'")
    out = []
    for i, raw in enumerate(data["tokens"]):
        try:
            out.append(TokenEntry.model_validate(raw))
        except ValidationError as e:
            # the entry itself may hold a secret pasted by mistake: name the field, not the value
            fields = ", ".join(".".join(str(p) for p in err["loc"]) or "(entry)" for err in e.errors())
            raise ConfigError(f"security.tokens_file: {path}: tokens[{i}] invalid ({fields})") from None
    return out
