"""Open the Feast feature store of a repo with one of its two configurations.

Choosing the online store is configuration, not code: ``sqlite`` reads ``feature_store.yaml``
(embedded default), ``redis`` reads ``feature_store.redis.yaml`` with its connection string taken
from ``redis_url`` ("redis://host:port[/db]"). Environment variables used when the caller passes
nothing: ``FULCRUM_FEATURE_STORE`` (sqlite | redis) and ``FULCRUM_REDIS_URL``.

The Feast CLI selects the same files with ``feast -f feature_store.redis.yaml ...`` and reads the
connection string from ``FULCRUM_FEAST_REDIS`` ("host:port"), see that file's header.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlparse

from fulcrum.core import environment

if TYPE_CHECKING:  # feast is heavy: imported where used
    from feast import FeatureStore

STORES: tuple[str, ...] = ("sqlite", "redis")
CONFIG_FILES: dict[str, str] = {"sqlite": "feature_store.yaml", "redis": "feature_store.redis.yaml"}
ENV_STORE = "FULCRUM_FEATURE_STORE"
ENV_REDIS_URL = "FULCRUM_REDIS_URL"
ENV_FEAST_REDIS = "FULCRUM_FEAST_REDIS"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"


#: socket timeouts (s) so a hung Redis fails a call instead of blocking a worker thread forever
REDIS_SOCKET_DEFAULTS = {"socket_timeout": "2", "socket_connect_timeout": "2"}


def redis_connection_string(url: str) -> str:
    """``redis://[:password@]host:port[/db][?socket_timeout=S]`` -> Feast's connection string
    ``host:port[,db=N][,password=...],socket_timeout=S,socket_connect_timeout=S``."""
    u = urlparse(url)
    if u.scheme not in ("redis", "rediss") or not u.hostname:
        from fulcrum.core.redact import redact_url  # never echo a password

        raise ValueError(f"redis_url: expected redis://host:port[/db], got {redact_url(url)!r}")
    parts = [f"{u.hostname}:{u.port or 6379}"]
    db = u.path.strip("/")
    if db:
        if not db.isdigit():
            raise ValueError(f"redis_url: database must be a number, got {db!r}")
        parts.append(f"db={db}")
    if u.username:  # a Redis ACL user
        parts.append(f"username={unquote(u.username)}")
    if u.password:
        password = unquote(u.password)
        if "," in password:  # Feast splits its connection string on commas
            raise ValueError("redis_url: a password with ',' cannot go into Feast's connection string")
        parts.append(f"password={password}")
    if u.scheme == "rediss":
        parts.append("ssl=true")
    options = dict(REDIS_SOCKET_DEFAULTS)
    options.update({k: v[-1] for k, v in parse_qs(u.query).items()})
    parts.extend(f"{k}={v}" for k, v in sorted(options.items()))
    return ",".join(parts)


def resolve_store(store: str | None) -> str:
    name = (store or environment.get(ENV_STORE) or "sqlite").strip().lower()
    if name not in STORES:
        raise ValueError(f"store: {name!r} is not one of {', '.join(STORES)}")
    return name


def repo_config_dict(repo: Path, store: str | None = None, redis_url: str | None = None) -> dict[str, Any]:
    """The parsed YAML of the chosen configuration, with the Redis connection filled in."""
    import yaml

    name = resolve_store(store)
    path = Path(repo) / CONFIG_FILES[name]
    if not path.is_file():
        raise FileNotFoundError(
            f"feature repo config {path} does not exist (is {repo} a Fulcrum feature repo?)"
        )
    raw = yaml.safe_load(os.path.expandvars(path.read_text()))
    if name == "redis":
        from fulcrum.core.redis_credentials import with_credentials  # user/password from files

        url = with_credentials(redis_url or environment.get(ENV_REDIS_URL) or DEFAULT_REDIS_URL)
        raw["online_store"]["connection_string"] = redis_connection_string(url)
    return raw


def open_store(repo: Path | str, store: str | None = None, redis_url: str | None = None) -> FeatureStore:
    """A ``feast.FeatureStore`` for ``repo`` with the chosen online store (paths relative to repo)."""
    from fulcrum.core.feast_import import import_feast

    feast = import_feast()
    repo = Path(repo).resolve()
    cfg = feast.RepoConfig(**repo_config_dict(repo, store, redis_url))
    cfg.repo_path = repo
    return feast.FeatureStore(repo_path=str(repo), config=cfg)
