"""``RedisHashWriter``: the direct Redis write of ``OnlineRowWriter`` (online/features/online_write.py).

What Feast 0.67's ``RedisOnlineStore.online_write_batch`` stores, per entity row, and what this
writer stores too:

- one Redis hash per entity, named ``serialize_entity_key(entity key, entity_key_serialization_
  version) + project.encode("utf-8")`` (``helpers._redis_key``);
- in it, for each feature ``f`` of view ``v``: field ``_mmh3(f"{v}:{f}")`` (murmur3 32-bit of the
  name, 4 little-endian bytes) -> ``Value.SerializeToString()``; and field ``"_ts:{v}"`` (a str,
  so the client's encoder turns it into bytes) -> ``Timestamp(seconds, nanos).SerializeToString()``
  of the event time; ``v`` is ``compute_versioned_name(view, registry.enable_online_feature_view_
  versioning)``. All of them in one ``HSET``, followed by ``EXPIRE key key_ttl_seconds`` when the
  config's ``key_ttl_seconds`` is set (truthy);
- ``skip_dedup: true`` (feature_repo/feature_store.redis.yaml): every row is written, in one
  non-transactional pipeline. ``skip_dedup: false``: a first pipeline of ``HMGET key _ts:{v}``,
  and a row is skipped when the stored timestamp, or an earlier row of the same batch for the
  same key, is at or after its own (compared in nanoseconds, a zero stored timestamp counting as
  none), exactly Feast's rule.

Feast builds all of that per call: the key serialised per row, each field name hashed per row and
feature, every ``Value`` serialised, then redis-py packs every argument into RESP in Python (most
of the time of a large batch). Here the view's field names are hashed and RESP-framed once, the
Redis key of each entity and each repeated ``Value``'s RESP bulk string are memoised by the row
writer (its key map and encoders), and the whole batch is framed into one buffer and sent on one
pooled connection in one round trip (two with dedup), replies read and checked like a pipeline's.

Used only for a plain config (``OnlineRowWriter`` falls back to Feast's own call otherwise): the
online store is exactly ``RedisOnlineStore`` (not a subclass), its config a
``RedisOnlineStoreConfig`` with ``redis_type: redis`` (not cluster or sentinel). The ``client``
setting (redis | glide) only concerns Feast's reads; Feast writes with redis-py either way.

Feast internals relied on: ``RedisOnlineStore._get_client`` (the store's own redis-py client, so
the same connection pool and settings), ``feast.infra.online_stores.helpers._mmh3`` and
``compute_versioned_name``, ``feast.infra.key_encoding_utils.serialize_entity_key``, and the
layout above. redis-py: ``Redis.get_encoder``, ``ConnectionPool.get_connection`` / ``release``,
``Connection.send_packed_command`` / ``read_response`` / ``retry`` (as ``Pipeline.execute`` uses
them: retried on connection errors after a disconnect; an error reply raised after all replies
are read, so the pooled connection never desyncs). tests/online/features/test_feature_store.py compares the
raw
hashes (HGETALL, TTL) written by this path and by Feast's push on a real redis-server.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

_HSET = b"$4\r\nHSET\r\n"
_HMGET = b"*3\r\n$5\r\nHMGET\r\n"
_EXPIRE = b"*3\r\n$6\r\nEXPIRE\r\n"
_MULTI = b"*1\r\n$5\r\nMULTI\r\n"
_EXEC = b"*1\r\n$4\r\nEXEC\r\n"
_SET = b"*5\r\n$3\r\nSET\r\n"
_ONE_EX = b"$1\r\n1\r\n$2\r\nEX\r\n"

#: one entity row for ``RedisHashWriter.write``: (Redis key as a RESP bulk string, event time in
#: microseconds since the epoch, each feature's ``Value`` bytes as a RESP bulk string, in the
#: writer's feature order)
Row = tuple[bytes, int, Sequence[bytes]]


def bulk(data: bytes) -> bytes:
    """``data`` as a RESP bulk string (what redis-py sends for one command argument)."""
    return b"$%d\r\n%b\r\n" % (len(data), data)


def is_plain_redis(online_store: Any, config: Any) -> bool:
    """True when ``online_store`` / ``config`` are the plain Redis setup this writer reproduces."""
    mod = sys.modules.get("feast.infra.online_stores.redis")
    if mod is None:  # a RedisOnlineStore instance implies its module is imported
        return False
    osc = config.online_store
    return (
        type(online_store) is mod.RedisOnlineStore
        and isinstance(osc, mod.RedisOnlineStoreConfig)
        and osc.redis_type == mod.RedisType.redis
    )


class RedisHashWriter:
    """Writes one feature view's rows (fixed feature list) as Feast's Redis hashes."""

    def __init__(self, online_store: Any, config: Any, view: Any, features: Sequence[str]) -> None:
        from feast.infra.online_stores.helpers import _mmh3, compute_versioned_name

        osc = config.online_store
        self._client = online_store._get_client(osc)
        encoder = self._client.get_encoder()
        name = compute_versioned_name(view, config.registry.enable_online_feature_view_versioning)
        self.project = config.project.encode("utf-8")
        self._ts_field = bulk(encoder.encode(f"_ts:{name}"))
        self._fields = [bulk(_mmh3(f"{name}:{f}")) for f in features]
        self._hset = b"*%d\r\n" % (2 + 2 * (1 + len(features))) + _HSET
        ttl = osc.key_ttl_seconds
        self._expire = bulk(encoder.encode(ttl)) if ttl else None
        self._dedup = not osc.skip_dedup
        from google.protobuf.timestamp_pb2 import Timestamp

        self._Timestamp = Timestamp

    def write(self, rows: Sequence[Row], journal: Sequence[bytes] = (), journal_ttl_s: int = 0) -> None:
        """HSET (and EXPIRE) every row not skipped by the dedup rule, in one round trip. With
        ``journal`` keys (online/features/applied.py) the rows and ``SET key 1 EX journal_ttl_s``
        per key go in one MULTI/EXEC transaction: all of them or none."""
        if self._dedup:
            rows = self._newer(rows)
        if not rows and not journal:
            return
        Timestamp, fields, hset, ts_field, expire = (
            self._Timestamp,
            self._fields,
            self._hset,
            self._ts_field,
            self._expire,
        )
        parts: list[bytes] = []
        add = parts.append
        commands = 0
        if journal:
            add(_MULTI)
        for key, micros, values in rows:
            seconds, us = divmod(micros, 1_000_000)
            add(hset)
            add(key)
            add(ts_field)
            add(bulk(Timestamp(seconds=seconds, nanos=us * 1000).SerializeToString()))
            for field, value in zip(fields, values, strict=True):
                add(field)
                add(value)
            commands += 1
            if expire is not None:
                add(_EXPIRE)
                add(key)
                add(expire)
                commands += 1
        if journal:
            ttl = bulk(b"%d" % journal_ttl_s)
            for jkey in journal:
                add(_SET)
                add(bulk(jkey))
                add(_ONE_EX)
                add(ttl)
            add(_EXEC)
            replies = self._round_trip(b"".join(parts), 2 + commands + len(journal))
            executed = replies[-1]
            if not isinstance(executed, list):  # nil: the transaction was discarded
                raise ConnectionError(f"redis discarded the write transaction: {executed!r}")
            for r in executed:
                if isinstance(r, Exception):
                    raise r
            return
        self._round_trip(b"".join(parts), commands)

    def applied(self, journal: Sequence[bytes]) -> list[bool]:
        """Which journal keys exist (MGET, 10,000 keys per command)."""
        out: list[bool] = []
        for start in range(0, len(journal), 10_000):
            out.extend(v is not None for v in self._client.mget(list(journal[start : start + 10_000])))
        return out

    def _newer(self, rows: Sequence[Row]) -> list[Row]:
        """The rows Feast's dedup keeps: newer than the stored ``_ts`` and than earlier rows."""
        payload = b"".join(_HMGET + key + self._ts_field for key, _, _ in rows)
        stored = self._round_trip(payload, len(rows))
        latest: dict[bytes, int] = {}
        kept = []
        for row, (prev,) in zip(rows, stored, strict=True):
            key, micros, _ = row
            new = micros * 1000
            seen = latest.get(key, 0)
            if prev:
                ts = self._Timestamp()
                ts.ParseFromString(prev)
                seen = max(seen, ts.seconds * 1_000_000_000 + ts.nanos)
            if seen and new <= seen:
                continue
            latest[key] = new
            kept.append(row)
        return kept

    def _round_trip(self, payload: bytes, replies: int) -> list[Any]:
        return round_trip(self._client, payload, replies)


def round_trip(client: Any, payload: bytes, replies: int) -> list[Any]:
    """Send ``payload`` (``replies`` RESP commands) on one of ``client``'s pooled connections and
    read every reply (retried by the client's retry policy, the connection reset between tries)."""
    pool = client.connection_pool
    conn = pool.get_connection()
    try:
        result: list[Any] = conn.retry.call_with_retry(
            lambda: _exchange(conn, payload, replies), lambda _error: conn.disconnect()
        )
        return result
    finally:
        pool.release(conn)


def _exchange(conn: Any, payload: bytes, replies: int) -> list[Any]:
    """Send, then read EVERY reply before raising the first error (the pooled connection never
    desyncs)."""
    from redis.exceptions import ResponseError

    conn.send_packed_command([payload])
    out: list[Any] = []
    error: ResponseError | None = None
    for _ in range(replies):
        try:
            out.append(conn.read_response(disable_decoding=True))
        except ResponseError as e:
            error = error or e
            out.append(e)
    if error is not None:
        raise error
    return out


# ---- compare-and-set writes (several writers of one row) -------------------------------------

#: the hash field holding a row's write version (Feast reads named fields only: it never sees it)
VERSION_FIELD_PREFIX = "_fulcrum_v:"
#: rows per script call (each call is atomic for its rows and their journal keys)
CAS_CHUNK = 2_000

#: KEYS: n row keys, then m journal keys. ARGV: n, m, nf (fields per row, the _ts field included),
#: version field, journal TTL, key TTL ('' = none), then per row: expected version and nf
#: (field, value) pairs. Writes nothing and returns the 1-based indices of the rows whose stored
#: version is not the expected one (another writer wrote them since they were read); otherwise
#: HSETs every row, bumps its version, sets the journal keys, returns {}.
CAS_LUA = """
local n, m, nf = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local vf, jttl, kttl = ARGV[4], ARGV[5], ARGV[6]
local conflicts = {}
local p = 7
for i = 1, n do
  local cur = redis.call('HGET', KEYS[i], vf) or '0'
  if cur ~= ARGV[p] then conflicts[#conflicts + 1] = i end
  p = p + 1 + 2 * nf
end
if #conflicts > 0 then return conflicts end
p = 7
for i = 1, n do
  redis.call('HSET', KEYS[i], unpack(ARGV, p + 1, p + 2 * nf))
  redis.call('HINCRBY', KEYS[i], vf, 1)
  if kttl ~= '' then redis.call('EXPIRE', KEYS[i], kttl) end
  p = p + 1 + 2 * nf
end
for k = n + 1, n + m do redis.call('SET', KEYS[k], '1', 'EX', jttl) end
return {}
"""


class CasWriter:
    """Compare-and-set writes of a ``RedisHashWriter``'s rows: each row carries the version its
    writer read BEFORE reading the row's values; a row some other writer changed meanwhile is
    not written (nor any row of its chunk) and is reported, so the caller re-reads and re-folds
    it. Framed by hand like the plain writes (one EVALSHA per ``CAS_CHUNK`` rows)."""

    def __init__(self, writer: RedisHashWriter, view_name: str) -> None:
        self._w = writer
        self.version_field = (VERSION_FIELD_PREFIX + view_name).encode()
        self._vf = bulk(self.version_field)
        self._sha = writer._client.script_load(CAS_LUA)

    def versions(self, keys: Sequence[bytes]) -> list[int]:
        """Stored versions (0 = never written by a CAS write) of the rows, by RESP bulk key."""
        hmget = b"*3\r\n$5\r\nHMGET\r\n"
        out: list[int] = []
        for start in range(0, len(keys), 10_000):
            part = keys[start : start + 10_000]
            replies = self._w._round_trip(b"".join(hmget + k + self._vf for k in part), len(part))
            out.extend(int(v[0]) if v and v[0] is not None else 0 for v in replies)
        return out

    def write(
        self,
        rows: Sequence[Row],
        expected: Sequence[int],
        journal: Sequence[Sequence[bytes]],
        journal_ttl_s: int,
    ) -> tuple[list[int], list[int]]:
        """Write ``rows`` (with ``journal[i]``, the journal keys of row i's events) where the
        stored version still equals ``expected[i]``, ``CAS_CHUNK`` rows per atomic script call.
        Returns (indices of the rows NOT written: every row of a chunk with a conflict, indices
        of the conflicting rows: re-read them before retrying)."""
        w = self._w
        unwritten: list[int] = []
        conflicting: list[int] = []
        nf = 1 + len(w._fields)
        head = [bulk(b"%d" % nf), self._vf, bulk(b"%d" % journal_ttl_s), w._expire or bulk(b"")]
        for start in range(0, len(rows), CAS_CHUNK):
            idx = range(start, min(len(rows), start + CAS_CHUNK))
            jkeys = [bulk(k) for i in idx for k in journal[i]]
            args: list[bytes] = [bulk(b"%d" % len(idx)), bulk(b"%d" % len(jkeys)), *head]
            for i in idx:
                key, micros, values = rows[i]
                seconds, us = divmod(micros, 1_000_000)
                ts = w._Timestamp(seconds=seconds, nanos=us * 1000).SerializeToString()
                args += [bulk(b"%d" % expected[i]), w._ts_field, bulk(ts)]
                for field, value in zip(w._fields, values, strict=True):
                    args += [field, value]
            keys = [rows[i][0] for i in idx] + jkeys
            body = b"".join([bulk(b"%d" % len(keys)), *keys, *args])
            answer = self._eval(b"*%d\r\n$7\r\nEVALSHA\r\n" % (3 + len(keys) + len(args)), body)
            if answer:
                unwritten.extend(idx)
                conflicting.extend(start + int(j) - 1 for j in answer)
        return unwritten, conflicting

    def _eval(self, head: bytes, body: bytes) -> Any:
        from redis.exceptions import ResponseError

        for attempt in range(2):
            sha = self._sha.encode() if isinstance(self._sha, str) else self._sha
            try:
                (answer,) = self._w._round_trip(head + bulk(sha) + body, 1)
                return answer
            except ResponseError as e:  # NoScriptError is one: the server restarted or flushed
                if "NOSCRIPT" not in str(e) or attempt:
                    raise
                self._sha = self._w._client.script_load(CAS_LUA)
        return None
