"""The idempotency store: which event ids were already applied.

Ingestion is at-least-once (offsets are committed after the sinks succeed), so a batch can come
back after a crash, a rebalance or a retry. The pipeline asks ``seen(ids)`` before applying and
calls ``mark(ids)`` only after every sink succeeded, so a redelivered batch changes nothing twice.

- ``MemoryDedupe``: a bounded LRU set in the process (enough for retries within one consumer).
- ``RedisDedupe``: the LRU in front of Redis keys with a TTL, so the memory survives a consumer
  restart and is shared by every consumer of the group and by the gRPC door. Redis unreachable ->
  ``SinkUnavailable``: the caller backs off and retries, nothing is committed.

**Atomic reservation.** ``reserve(ids)`` claims each id for this pipeline before the sinks run
and answers, per id, ``MINE`` (apply it), ``DONE`` (already applied: a duplicate) or ``BUSY``
(another consumer or server holds a live claim: it is being applied right now). Redis does it in
one Lua script (``SET NX PX`` per id, atomic), so two consumers during a rebalance, or a consumer
and a server's IngestEvents door, never apply the same event concurrently: the pipeline backs off
on ``BUSY`` until the id is ``DONE`` (skipped) or the claim's lease (``lease_s``, 20 s) ran out
(the holder died: taken over). ``mark`` turns claims into "done" with the long TTL; ``release``
drops this pipeline's claims after a failed apply, so the retry (or another consumer) may take
them at once.

The window left by ids alone (a crash after a sink wrote but before ``mark``) is closed in the
store itself: the Feast sink records the events folded into each row write in the same
transaction (online/features/applied.py), so a redelivered event changes no row twice.

TTL: an id must be remembered at least as long as the topic may redeliver it, so ``ttl_s`` must
be >= the events topic's ``retention.ms`` (default 7 days both; docs/scaling.md).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

from online.ingest.sink import SinkUnavailable

log = logging.getLogger(__name__)

DEFAULT_CAPACITY = 1_000_000
DEFAULT_TTL_S = 7 * 24 * 3600
DEFAULT_PREFIX = "fulcrum:ingest:seen:"
DEFAULT_LEASE_S = 20.0

#: answers of ``reserve``
MINE, DONE, BUSY = 0, 1, 2


def owner_token() -> str:
    """A claim's owner: this process (host, pid) and this pipeline."""
    return f"r:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


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
        self._claims: dict[str, str] = {}  # id -> owner, while being applied
        self._lock = threading.Lock()

    def reserve(self, ids: Sequence[str], owner: str) -> list[int]:
        """Claim ``ids`` for ``owner`` (in this process; pipelines sharing this store)."""
        with self._lock:
            out = []
            for i in ids:
                if i in self._ids:
                    out.append(DONE)
                elif self._claims.setdefault(i, owner) == owner:
                    out.append(MINE)
                else:
                    out.append(BUSY)
            return out

    def release(self, ids: Sequence[str], owner: str) -> None:
        with self._lock:
            for i in ids:
                if self._claims.get(i) == owner:
                    del self._claims[i]

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._ids

    def seen(self, ids: Sequence[str]) -> list[bool]:
        known = self._ids
        return [i in known for i in ids]

    def forget(self, ids: Sequence[str]) -> int:
        """Drop ``ids`` (a forgotten user's events); returns how many were known."""
        with self._lock:
            known = self._ids
            dropped = [i for i in ids if i in known]
            for i in dropped:
                del known[i]
        return len(dropped)

    def mark(self, ids: Sequence[str]) -> None:
        with self._lock:
            self._mark(ids)

    def _mark(self, ids: Sequence[str]) -> None:
        known = self._ids
        for i in ids:
            self._claims.pop(i, None)
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
        lease_s: float = DEFAULT_LEASE_S,
    ) -> None:
        if ttl_s < 1:
            raise ValueError(f"ttl_s: must be >= 1, got {ttl_s}")
        if lease_s <= 0:
            raise ValueError(f"lease_s: must be > 0, got {lease_s}")
        self.client = client
        self.ttl_s = ttl_s
        self.lease_ms = int(lease_s * 1000)
        self._reserve_script: Any = None
        self._release_script: Any = None
        self.prefix = prefix
        self.local = local or MemoryDedupe()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisDedupe:
        try:
            import redis
        except ImportError as e:  # pragma: no cover - redis-py is in the serve extra
            raise ImportError("Redis idempotency needs redis-py: pip install -e '.[serve]'") from e
        from fulcrum.core.redis_credentials import with_credentials  # user/password from files

        client = redis.Redis.from_url(with_credentials(url), socket_timeout=5, socket_connect_timeout=5)
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

    def reserve(self, ids: Sequence[str], owner: str) -> list[int]:
        """Claim every id not known done, atomically per id (one Lua script per 10,000 ids)."""
        result = [DONE if hit else MINE for hit in self.local.seen(ids)]
        ask = [k for k, r in enumerate(result) if r == MINE]
        if not ask:
            return result
        import redis

        if self._reserve_script is None:
            self._reserve_script = self.client.register_script(_RESERVE_LUA)
        try:
            for start in range(0, len(ask), _SCRIPT_KEYS):
                part = ask[start : start + _SCRIPT_KEYS]
                answers = self._reserve_script(
                    keys=[self.prefix + ids[k] for k in part], args=[owner, self.lease_ms]
                )
                for k, answer in zip(part, answers, strict=True):
                    result[k] = int(answer)
        except redis.RedisError as e:
            raise SinkUnavailable(f"redis idempotency store: {e}") from e
        return result

    def release(self, ids: Sequence[str], owner: str) -> None:
        if not ids:
            return
        import redis

        if self._release_script is None:
            self._release_script = self.client.register_script(_RELEASE_LUA)
        try:
            for start in range(0, len(ids), _SCRIPT_KEYS):
                self._release_script(
                    keys=[self.prefix + i for i in ids[start : start + _SCRIPT_KEYS]], args=[owner]
                )
        except redis.RedisError as e:  # the claims then expire with their lease
            log.warning("releasing %d claims failed (%s); they expire with their lease", len(ids), e)

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

    def forget(self, ids: Sequence[str]) -> int:
        """Delete the keys of ``ids`` (a forgotten user's events); returns how many existed."""
        if not ids:
            return 0
        import redis

        try:
            deleted = int(self.client.delete(*[self.prefix + i for i in ids]))
        except redis.RedisError as e:
            raise SinkUnavailable(f"redis idempotency store: {e}") from e
        self.local.forget(ids)
        return deleted


_SCRIPT_KEYS = 10_000
#: KEYS: the ids' keys; ARGV[1]: owner token ("r:..."), ARGV[2]: lease in ms.
#: Returns per key 0 (MINE: claimed, or already ours), 1 (DONE) or 2 (BUSY: another owner's claim).
_RESERVE_LUA = """
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[2]) then
    out[i] = 0
  else
    local v = redis.call('GET', key)
    if v == ARGV[1] then
      redis.call('PEXPIRE', key, ARGV[2])
      out[i] = 0
    elseif v == false then
      redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
      out[i] = 0
    elseif string.sub(v, 1, 2) == 'r:' then
      out[i] = 2
    else
      out[i] = 1
    end
  end
end
return out
"""
#: delete the keys still claimed by ARGV[1] (never a "done" mark, never another owner's claim)
_RELEASE_LUA = """
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
return 0
"""
