"""One licence renewal for several hosts: a lease in Redis, and the renewed licence handed round.

Each host keeps its own licence file. The first host whose check finds the licence due takes the
lease (`SET NX PX`: it lapses by itself if that host dies mid-renewal), renews from the licence
service, publishes the new licence text and lets the lease go; the others skip that round, and
at their next check take the published licence, verified with the issuer's key like any renewal,
into their own files instead of asking the service again.

When Redis cannot be reached the host renews alone, as it would without a cluster: a licence
renewed twice costs nothing, one never renewed stops the API.
"""

from __future__ import annotations

import logging
import secrets
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger("redhorn.licence")

# Deletes the lease only while it is still this holder's: one that lapsed and was taken by another
# host is left alone.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class LeaseUnavailable(Exception):
    """The lease cannot be asked for now (Redis away); the caller renews on its own."""


class RenewalLease(Protocol):
    async def acquire(self) -> bool:
        """True if this host may renew now; False if another host is renewing."""
        ...

    async def release(self) -> None: ...

    async def publish(self, licence: str) -> None:
        """Hand the renewed licence to the other hosts."""
        ...

    async def latest(self) -> str | None:
        """The licence another host renewed last, if any."""
        ...


class RedisLease:
    def __init__(self, redis: Redis, prefix: str, lease_seconds: float) -> None:
        self.redis = redis
        self.lock_key = prefix + "licence:renewing"
        self.licence_key = prefix + "licence:current"
        self.lease_ms = max(1000, int(lease_seconds * 1000))
        self._token = ""
        self._release = redis.register_script(_RELEASE)

    async def acquire(self) -> bool:
        token = secrets.token_hex(16)
        try:
            taken = await self.redis.set(self.lock_key, token, nx=True, px=self.lease_ms)
        except (RedisError, OSError) as exc:
            raise LeaseUnavailable(f"Redis cannot be reached ({type(exc).__name__})") from None
        if taken:
            self._token = token
        return bool(taken)

    async def release(self) -> None:
        token, self._token = self._token, ""
        if not token:
            return
        try:
            await self._release(keys=[self.lock_key], args=[token])
        except (RedisError, OSError) as exc:  # the lease lapses by itself
            logger.warning(
                "The licence renewal lease could not be let go (%s); it lapses by itself", type(exc).__name__
            )

    async def publish(self, licence: str) -> None:
        try:
            await self.redis.set(self.licence_key, licence)
        except (RedisError, OSError) as exc:
            logger.warning("The renewed licence could not be handed to the other hosts (%s)", type(exc).__name__)

    async def latest(self) -> str | None:
        try:
            value = await self.redis.get(self.licence_key)
        except (RedisError, OSError):
            return None
        if value is None:
            return None
        return value.decode("utf-8") if isinstance(value, bytes) else str(value)
