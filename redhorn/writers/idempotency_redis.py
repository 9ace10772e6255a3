"""`Idempotency-Key` records in Redis, so that a retry that lands on another host is answered too.

The same states as the SQLite store (`idempotency.py`), one Redis hash per (scope, key):

    {prefix}idem:<digest of scope and key>  fp, status (0 pending, -1 outcome unknown, else the
                                             HTTP status), created, body, location, etag, scope, key
    {prefix}idem-unknown                     the set of records whose outcome is unknown

Every change is one Lua script, so a claim is atomic across hosts as `BEGIN IMMEDIATE` is across
a host's workers: the first request creates the record (status 0); a retry finds it. Pending and
unknown records never expire by time (a host may have died after its write committed); an answer
expires `Writes.IdempotencyKeySeconds` after it was stored. When Redis cannot be reached, a keyed
write is refused with 503 `WriterUnavailable` rather than run without the guarantee it asked for.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from redhorn.errors import IdempotencyKeyInUse, IdempotencyKeyReused, WriterUnavailable
from redhorn.writers.idempotency import (
    OUTCOME_UNKNOWN,
    PENDING,
    Claimed,
    IdempotencyRecords,
    Resumed,
    StoredAnswer,
    fingerprint,
    outcome_unknown,
)

_CLAIM = """
local record = KEYS[1]
if redis.call('EXISTS', record) == 0 then
  redis.call('HSET', record, 'fp', ARGV[1], 'status', ARGV[5], 'created', ARGV[2], 'scope', ARGV[3], 'key', ARGV[4])
  return {'claimed'}
end
local r = redis.call('HMGET', record, 'fp', 'status', 'created', 'body', 'location', 'etag')
if r[1] ~= ARGV[1] then return {'reused'} end
local status = tonumber(r[2])
if status == tonumber(ARGV[6]) then return {'unknown'} end
if status == tonumber(ARGV[5]) then
  if tonumber(r[3]) >= tonumber(ARGV[2]) - tonumber(ARGV[7]) then return {'in-use'} end
  redis.call('HSET', record, 'created', ARGV[2])
  return {'resumed'}
end
return {'answer', r[2], r[4] or '', r[5] or '', r[6] or ''}
"""

# Only a pending claim takes an answer or an unknown mark, and only a pending claim is released.
_STORE = """
if redis.call('HGET', KEYS[1], 'status') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'body', ARGV[3], 'location', ARGV[4], 'etag', ARGV[5])
redis.call('HSET', KEYS[1], 'created', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return 1
"""
_MARK_UNKNOWN = """
if redis.call('HGET', KEYS[1], 'status') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[2])
redis.call('SADD', KEYS[2], KEYS[1])
return 1
"""
_RELEASE = """
if redis.call('HGET', KEYS[1], 'status') ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
"""


class RedisIdempotencyStore(IdempotencyRecords):
    def __init__(
        self,
        redis: Redis,
        prefix: str,
        keep_seconds: int,
        pending_seconds: float = 300,
        *,
        owns_connection: bool = False,
    ) -> None:
        """`owns_connection`: close `redis` with the store; else its owner (the host's shared state) does."""
        self.redis = redis
        self.owns_connection = owns_connection
        self.prefix = prefix
        self.keep_seconds = keep_seconds
        self.pending_seconds = pending_seconds
        self._unknown = prefix + "idem-unknown"
        self._claim = redis.register_script(_CLAIM)
        self._store = redis.register_script(_STORE)
        self._mark = redis.register_script(_MARK_UNKNOWN)
        self._release = redis.register_script(_RELEASE)

    def _record(self, scope: str, key: str) -> str:
        return self.prefix + "idem:" + fingerprint(scope.encode("utf-8"), key.encode("utf-8")).hex()

    async def claim(self, scope: str, key: str, request_digest: bytes) -> StoredAnswer | Claimed | Resumed:
        arguments: list[bytes | str | int | float] = [
            request_digest,
            repr(time.time()),
            scope,
            key,
            PENDING,
            OUTCOME_UNKNOWN,
            self.pending_seconds,
        ]
        try:
            reply = await self._claim(keys=[self._record(scope, key)], args=arguments)
        except (RedisError, OSError) as exc:
            raise _unreachable(exc) from None
        verdict = _text(reply[0])
        if verdict == "claimed":
            return Claimed()
        if verdict == "resumed":
            return Resumed()
        if verdict == "reused":
            raise IdempotencyKeyReused(
                "This Idempotency-Key was used before for a different request", target="Idempotency-Key"
            )
        if verdict == "unknown":
            raise outcome_unknown(key)
        if verdict == "in-use":
            raise IdempotencyKeyInUse(
                "The first request with this Idempotency-Key is still running; try again shortly",
                target="Idempotency-Key",
                retry_after=1,
            )
        status, body, location, etag = int(reply[1]), bytes(reply[2]), _text(reply[3]), _text(reply[4])
        return StoredAnswer(status, body, location or None, etag or None)

    async def store(self, scope: str, key: str, answer: StoredAnswer) -> None:
        arguments: list[bytes | str | int | float] = [
            PENDING,
            answer.status,
            answer.body,
            answer.location or "",
            answer.etag or "",
            repr(time.time()),
            self.keep_seconds * 1000,
        ]
        try:
            await self._store(keys=[self._record(scope, key)], args=arguments)
        except (RedisError, OSError) as exc:
            raise _unreachable(exc) from None

    async def mark_unknown(self, scope: str, key: str) -> None:
        try:
            await self._mark(keys=[self._record(scope, key), self._unknown], args=[PENDING, OUTCOME_UNKNOWN])
        except (RedisError, OSError) as exc:
            raise _unreachable(exc) from None

    async def release(self, scope: str, key: str) -> None:
        try:
            await self._release(keys=[self._record(scope, key)], args=[PENDING])
        except (RedisError, OSError) as exc:
            raise _unreachable(exc) from None

    async def unresolved(self) -> list[tuple[str, str, float]]:
        try:
            names = sorted(await self.redis.smembers(self._unknown))
            found = []
            for name in names:
                scope, key, created, status = await self.redis.hmget(name, ["scope", "key", "created", "status"])
                if status is not None and int(status) == OUTCOME_UNKNOWN:
                    found.append((_text(scope), _text(key), float(_text(created) or 0)))
        except (RedisError, OSError) as exc:
            raise _unreachable(exc) from None
        return sorted(found, key=lambda item: item[2])

    async def resolve(self, key: str) -> int:
        freed = 0
        try:
            for name in await self.redis.smembers(self._unknown):
                stored_key, status = await self.redis.hmget(name, ["key", "status"])
                if status is None:
                    await self.redis.srem(self._unknown, name)
                elif _text(stored_key) == key and int(status) == OUTCOME_UNKNOWN:
                    await self.redis.delete(name)
                    await self.redis.srem(self._unknown, name)
                    freed += 1
        except (RedisError, OSError) as exc:
            raise _unreachable(exc) from None
        return freed

    async def close(self) -> None:
        if self.owns_connection:
            try:
                await self.redis.aclose()
            except (RedisError, OSError):
                pass


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _unreachable(exc: BaseException) -> WriterUnavailable:
    """The 503 for a keyed write while Redis is away; the cause is named by type only (no address, no password)."""
    return WriterUnavailable(
        f"The Idempotency-Key records cannot be reached ({type(exc).__name__}); try again shortly",
        target="Idempotency-Key",
        retry_after=5,
    )
