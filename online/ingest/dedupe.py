"""The idempotency store: which event ids were already applied.

Ingestion is at-least-once (offsets are committed after the sinks succeed), so a batch can come
back after a crash, a rebalance or a retry. The pipeline asks ``seen(ids)`` before applying and
calls ``mark(ids)`` only after every sink succeeded, so a redelivered batch changes nothing twice.

- ``MemoryDedupe``: a bounded LRU set in the process (enough for retries within one consumer).
- ``RedisDedupe``: the LRU in front of Redis keys with a TTL, so the memory survives a consumer
  restart and is shared by every consumer of the group and by the gRPC door. Redis unreachable ->
  ``SinkUnavailable``: the caller backs off and retries, nothing is committed.

The remaining window (a crash after the sinks applied a batch but before ``mark``) is the usual
at-least-once one; it is as small as one batch.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

from online.ingest.sink import SinkUnavailable

log = logging.getLogger(__name__)

DEFAULT_CAPACITY = 1_000_000
DEFAULT_TTL_S = 7 * 24 * 3600
DEFAULT_PREFIX = "fulcrum:ingest:seen:"


class IdempotencyStore(Protocol):
    def seen(self, ids: Sequence[str]) -> list[bool]: ...

    def mark(self, ids: Sequence[str]) -> None: ...


class MemoryDedupe:
    """At most ``capacity`` ids, the least recently touched forgotten first."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity: must be >= 1, got {capacity}")
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._ids

    def seen(self, ids: Sequence[str]) -> list[bool]:
        known = self._ids
        return [i in known for i in ids]

    def mark(self, ids: Sequence[str]) -> None:
        known = self._ids
        for i in ids:
            if i in known:
                known.move_to_end(i)
            else:
                known[i] = None
        excess = len(known) - self.capacity
        for _ in range(max(0, excess)):
            known.popitem(last=False)


class RedisDedupe:
    """Redis keys ``<prefix><event_id>`` with a TTL, behind a local ``MemoryDedupe``."""

    def __init__(
        self,
        client: Any,
        ttl_s: int = DEFAULT_TTL_S,
        prefix: str = DEFAULT_PREFIX,
        local: MemoryDedupe | None = None,
    ) -> None:
        if ttl_s < 1:
            raise ValueError(f"ttl_s: must be >= 1, got {ttl_s}")
        self.client = client
        self.ttl_s = ttl_s
        self.prefix = prefix
        self.local = local or MemoryDedupe()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisDedupe:
        try:
            import redis
        except ImportError as e:  # pragma: no cover - redis-py is in the serve extra
            raise ImportError("Redis idempotency needs redis-py: pip install -e '.[serve]'") from e
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        return cls(client, **kwargs)

    def seen(self, ids: Sequence[str]) -> list[bool]:
        result = self.local.seen(ids)
        ask = [k for k, hit in enumerate(result) if not hit]
        if not ask:
            return result
        import redis

        try:
            values = self.client.mget([self.prefix + ids[k] for k in ask])
        except redis.RedisError as e:
            raise SinkUnavailable(f"redis idempotency store: {e}") from e
        for k, value in zip(ask, values, strict=True):
            if value is not None:
                result[k] = True
        return result

    def mark(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        import redis

        try:
            pipe = self.client.pipeline(transaction=False)
            for i in ids:
                pipe.set(self.prefix + i, b"1", ex=self.ttl_s)
            pipe.execute()
        except redis.RedisError as e:
            raise SinkUnavailable(f"redis idempotency store: {e}") from e
        self.local.mark(ids)
