"""Redis credentials from files (a mounted Secret), never from the URL in a ConfigMap.

``with_credentials(url)`` returns ``url`` with the ACL user and password read from the files
named by ``FULCRUM_REDIS_USERNAME_FILE`` / ``FULCRUM_REDIS_PASSWORD_FILE`` (when set; a URL that
already carries a password is refused then, so there is one source of truth). TLS is the
``rediss://`` scheme (Feast: ``ssl=true``; redis-py: TLS). The result holds a secret: pass it
on, never print it (``redact.redact_url``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from fulcrum.core import environment

USERNAME_FILE = "FULCRUM_REDIS_USERNAME_FILE"
PASSWORD_FILE = "FULCRUM_REDIS_PASSWORD_FILE"


def _read(var: str, env: Mapping[str, str]) -> str | None:
    path = env.get(var)
    if not path:
        return None
    try:
        value = Path(path).read_text().strip()
    except OSError as e:
        raise ValueError(f"{var}: cannot read {path} ({e.strerror})") from e
    if not value:
        raise ValueError(f"{var}: {path} is empty")
    return value


def with_credentials(url: str, env: Mapping[str, str] | None = None) -> str:
    env = environment.current(env)
    user, password = _read(USERNAME_FILE, env), _read(PASSWORD_FILE, env)
    if user is None and password is None:
        return url
    parts = urlsplit(url)
    if parts.password:
        raise ValueError(f"redis_url: carries a password and {PASSWORD_FILE} is set; keep only the file")
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    userinfo = quote(user or "", safe="") + (":" + quote(password, safe="") if password else "")
    return urlunsplit((parts.scheme, f"{userinfo}@{netloc}", parts.path, parts.query, parts.fragment))
