"""The one module that reads the process environment.

Each component keeps its own parsing and validation -- the serving config's ``FULCRUM_<FIELD>``
overrides (``online.config.env_var_names()``), Kafka's security settings
(``online.security.kafka.ENV_VARS``), the client's TLS and token files
(``fulcrum.client.channel.ENV_VARS``), ... -- but takes the variables from here: ``current(env)``
is the process environment unless a caller (a test) passes its own mapping. So one place answers
"does this read the environment?", and ``tests/test_environment.py`` fails when a module reads
``os.environ`` or ``os.getenv`` directly. Options of CLI commands that name an ``envvar`` are read
by the CLI framework and listed in each command's ``--help``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


def current(env: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """``env`` when given, else the process environment (live: later changes are seen)."""
    return os.environ if env is None else env


def get(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """The value of ``name`` (None when unset); values are returned as they are, unstripped."""
    return current(env).get(name)


def child_environment(**overrides: str) -> dict[str, str]:
    """A copy of the process environment with ``overrides``, for a subprocess."""
    return {**os.environ, **overrides}


def set_for_process(**values: str) -> None:
    """Set variables in this process's environment (a benchmark that runs the server in-process
    configures it the way ``fulcrum serve`` would be configured from outside)."""
    os.environ.update(values)
