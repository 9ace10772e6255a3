"""What the workers of one host, and the hosts of one installation, share while they serve.

Without `Cluster.RedisUrl` the workers of a host share files: failed logins in
`Authentication.FailedLoginDatabase`, Idempotency-Key answers in `Writes.IdempotencyDatabase`, the
licence file under its lock. With it, the hosts behind one load balancer share Redis instead:

- failed logins, counted in Redis (`auth/failures.py`), so that guesses spread over hosts add up;
- Idempotency-Key answers (`writers/idempotency_redis.py`), so that a retry that lands on another
  host is answered, not written twice;
- the licence renewal, one host at a time under a lease (`licensing/lease.py`);
- news of a schema change: a host whose metadata changed publishes its databases' schema versions
  on a channel, and the others read their catalogs again at once rather than at their next check,
  so their prepared statements (keyed on the metadata's generation) are dropped with the old metadata.

When Redis cannot be reached, reads go on; logins are counted per process with a warning; keyed
writes answer 503 `WriterUnavailable`; the licence is renewed by each host alone. The Redis URL,
which may hold a password, is never logged: only its host and port are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import msgspec
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from redhorn.auth.failures import FailureStore, RedisFailures, SqliteFailures
from redhorn.auth.throttle import LoginThrottle
from redhorn.catalog.cache import MetadataCache
from redhorn.licensing.keeper import LicenceKeeper
from redhorn.licensing.lease import RedisLease
from redhorn.settings import Settings, resolve_path
from redhorn.writers.idempotency import IdempotencyRecords, IdempotencyStore
from redhorn.writers.idempotency_redis import RedisIdempotencyStore

logger = logging.getLogger("redhorn.cluster")

# How long a host waits before listening again after Redis went away.
RECONNECT_SECONDS = 5.0


class SchemaNews(msgspec.Struct, frozen=True):
    """A host's databases' schema versions, after its metadata changed."""

    host: str
    versions: dict[str, str]


def redis_address(url: str) -> str:
    """Where Redis is, for log lines: host and port, never the password the URL may carry."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}:{parts.port or 6379}" if parts.hostname else parts.scheme


def connect(settings: Settings) -> Redis | None:
    """The Redis client of `Cluster.RedisUrl`, or None without one; it connects on first use.

    One retry only: a connection that broke when Redis restarted is made again, but a Redis that is
    away costs a request `RedisTimeoutSeconds` at most, not a series of backoffs.
    """
    cluster = settings.cluster
    if not cluster.redis_url:
        return None
    seconds = cluster.redis_timeout_seconds
    return Redis.from_url(
        cluster.redis_url,
        socket_timeout=seconds,
        socket_connect_timeout=seconds,
        retry=Retry(NoBackoff(), 1),
        decode_responses=False,
    )


def open_idempotency(
    settings: Settings, root: Path, redis: Redis | None = None, *, own_connection: bool = False
) -> IdempotencyRecords:
    """The Idempotency-Key records: in Redis with a cluster, else in the host's SQLite file.

    `own_connection`: make the Redis client here, closed with the store (`redhorn idempotency`).
    """
    writes = settings.writes
    if own_connection:
        redis = connect(settings)
    if redis is not None:
        return RedisIdempotencyStore(
            redis,
            settings.cluster.key_prefix,
            writes.idempotency_key_seconds,
            writes.idempotency_pending_seconds,
            owns_connection=own_connection,
        )
    return IdempotencyStore(
        resolve_path(writes.idempotency_database, root),
        writes.idempotency_key_seconds,
        writes.busy_timeout_seconds,
        writes.idempotency_pending_seconds,
    )


class SharedState:
    """One worker's handles on what it shares, made in the lifespan and closed at its end."""

    def __init__(self, settings: Settings, root: Path) -> None:
        self.settings = settings
        self.host = secrets.token_hex(8)  # tells this process's own news from the others'
        self.redis = connect(settings)
        prefix = settings.cluster.key_prefix
        self.idempotency = open_idempotency(settings, root, self.redis)
        self.failures: FailureStore | None = None
        if self.redis is not None:
            self.failures = RedisFailures(self.redis, prefix)
            logger.info("Sharing logins, Idempotency-Keys and the licence through Redis at %s", self.address)
        elif settings.authentication.failed_login_database:
            self.failures = SqliteFailures(resolve_path(settings.authentication.failed_login_database, root))
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def address(self) -> str:
        return redis_address(self.settings.cluster.redis_url)

    def attach(self, throttle: LoginThrottle, licence: LicenceKeeper) -> None:
        """Let the throttle count in the shared store and the licence keeper renew under the lease."""
        throttle.share(self.failures)
        if self.redis is not None:
            lease_seconds = max(30.0, 3 * self.settings.api_licence.request_timeout_seconds)
            licence.lease = RedisLease(self.redis, self.settings.cluster.key_prefix, lease_seconds)

    def start(self, metadata: MetadataCache) -> None:
        """Listen for and publish schema changes, with a cluster."""
        if self.redis is not None:
            self._tasks.append(asyncio.get_running_loop().create_task(self._schema_news(metadata)))

    async def _schema_news(self, metadata: MetadataCache) -> None:
        """Tell the other hosts when this host's metadata changed, and read the catalogs again when theirs did."""
        assert self.redis is not None
        channel = self.settings.cluster.key_prefix + "schema"
        seen = metadata.generation
        away = False
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(channel)
                if away:
                    away = False
                    logger.warning("Redis at %s is back: schema changes are shared again", self.address)
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        await self._heard(metadata, message["data"])
                    if metadata.generation != seen:
                        seen = metadata.generation
                        news = SchemaNews(self.host, _versions(metadata))
                        await self.redis.publish(channel, msgspec.json.encode(news))
            except (RedisError, OSError) as exc:
                if not away:
                    away = True
                    logger.warning(
                        "Redis at %s cannot be reached (%s): schema changes are not shared until it is back",
                        self.address,
                        type(exc).__name__,
                    )
                await asyncio.sleep(RECONNECT_SECONDS)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _heard(self, metadata: MetadataCache, data: bytes) -> None:
        try:
            news = msgspec.json.decode(data, type=SchemaNews)
        except msgspec.DecodeError:  # not news a redhorn host sent
            return
        if news.host == self.host:
            return
        ours = _versions(metadata)
        if any(name in ours and ours[name] != version for name, version in news.versions.items()):
            logger.info("Another host saw a schema change; reading the catalogs again")
            try:
                await metadata.refresh()
            except Exception:
                logger.exception("Reading the catalogs again after another host's schema change failed")

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.idempotency.close()
        if self.failures is not None:
            await self.failures.close()
        if self.redis is not None:
            with contextlib.suppress(RedisError, OSError):
                await self.redis.aclose()


def _versions(metadata: MetadataCache) -> dict[str, str]:
    return {name: database.schema_version for name, database in metadata.current.databases.items()}
