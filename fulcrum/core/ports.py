"""A free TCP port for a service a process starts itself (a broker, redis-server, a server).

The one implementation behind the demo, the benchmarks and the test fixtures. Binding to port 0
and releasing it leaves a window in which another process could take the port: callers that
start a child on it check that the child actually listens (and servers of our own bind port 0
directly and report the port instead).
"""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` that was free a moment ago (bind to 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
