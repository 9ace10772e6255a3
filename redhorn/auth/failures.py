"""Failed logins counted where every worker, or every host, sees them: a SQLite file or Redis.

The throttle (`throttle.py`) counts each failure under two keys, (username digest, address) and
(address); a store keeps the moments of those failures for one window and answers, for a key, how
many fell in the window and when the oldest did. The SQLite file serves the workers of one host;
Redis (`Cluster.RedisUrl`) the hosts behind one load balancer. Either may fail: the throttle then
falls back to the counts of its own process (`StoreUnreachable`).

Keys name no user: a username is kept only as a 16-byte digest, as in the process's own counts.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from redhorn.engines.sqlite import sqlite_uri

TABLE = "RedhornFailedLogins"
# Moments older than a window are dropped on every failure recorded; past this many rows the
# oldest go too, whatever a flood of addresses sends.
MAX_ROWS = 200_000


class StoreUnreachable(Exception):
    """The shared counts cannot be read or written now; the caller counts in its process alone."""


class FailureStore(Protocol):
    """Where failed logins are counted beyond this process."""

    async def recent(self, keys: Sequence[str], since: float) -> list[tuple[int, float]]:
        """For each key: how many failures came after `since`, and the moment of the oldest (0 if none)."""
        ...

    async def add(self, keys: Sequence[tuple[str, int]], now: float, window: float) -> None:
        """Count a failure at `now` under each (key, limit), keeping at most `limit` per key."""
        ...

    async def forget(self, key: str) -> None:
        """Drop a key's failures (a successful login)."""
        ...

    async def close(self) -> None: ...


class SqliteFailures:
    """The failures in a SQLite file that the workers of one host share.

    Reads run on the event loop: a WAL reader never waits for a writer, and the query is two
    lookups by index, microseconds, cheaper than a hop to a thread on every Basic request. Writes
    (failures only) go through a thread of their own, one at a time.
    """

    def __init__(self, path: Path, busy_timeout: float = 1.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._reader: sqlite3.Connection | None = None
        self._writer: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            sqlite_uri(self.path, "rwc"),
            uri=True,
            isolation_level=None,
            timeout=self.busy_timeout,
            check_same_thread=False,
        )
        try:
            connection.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError:
            pass  # another process holds it; it is WAL already
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute(f'CREATE TABLE IF NOT EXISTS "{TABLE}" ("Key" TEXT NOT NULL, "At" REAL NOT NULL)')
        connection.execute(f'CREATE INDEX IF NOT EXISTS "{TABLE}ByKey" ON "{TABLE}" ("Key", "At")')
        connection.execute(f'CREATE INDEX IF NOT EXISTS "{TABLE}ByAt" ON "{TABLE}" ("At")')
        return connection

    async def recent(self, keys: Sequence[str], since: float) -> list[tuple[int, float]]:
        try:
            if self._reader is None:
                self._reader = self._open()
            answers = []
            for key in keys:
                count, oldest = self._reader.execute(
                    f'SELECT COUNT(*), MIN("At") FROM "{TABLE}" WHERE "Key" = ? AND "At" > ?', (key, since)
                ).fetchone()
                answers.append((int(count), float(oldest or 0.0)))
            return answers
        except sqlite3.Error as exc:
            self._reader = _discard(self._reader)
            raise StoreUnreachable(f"the failed-login file cannot be read ({exc})") from None

    async def add(self, keys: Sequence[tuple[str, int]], now: float, window: float) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._add, keys, now, window)

    def _add(self, keys: Sequence[tuple[str, int]], now: float, window: float) -> None:
        with self._lock:
            try:
                if self._writer is None:
                    self._writer = self._open()
                connection = self._writer
                connection.execute("BEGIN IMMEDIATE")
                try:
                    connection.execute(f'DELETE FROM "{TABLE}" WHERE "At" <= ?', (now - window,))
                    for key, limit in keys:
                        connection.execute(f'INSERT INTO "{TABLE}" ("Key", "At") VALUES (?, ?)', (key, now))
                        connection.execute(
                            f'DELETE FROM "{TABLE}" WHERE "Key" = ? AND rowid NOT IN '
                            f'(SELECT rowid FROM "{TABLE}" WHERE "Key" = ? ORDER BY "At" DESC LIMIT ?)',
                            (key, key, max(1, limit)),
                        )
                    connection.execute(
                        f'DELETE FROM "{TABLE}" WHERE rowid IN (SELECT rowid FROM "{TABLE}" ORDER BY "At" DESC '
                        "LIMIT -1 OFFSET ?)",
                        (MAX_ROWS,),
                    )
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
                connection.execute("COMMIT")
            except sqlite3.Error as exc:
                self._writer = _discard(self._writer)
                raise StoreUnreachable(f"the failed-login file cannot be written ({exc})") from None

    async def forget(self, key: str) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._forget, key)

    def _forget(self, key: str) -> None:
        with self._lock:
            try:
                if self._writer is None:
                    self._writer = self._open()
                self._writer.execute(f'DELETE FROM "{TABLE}" WHERE "Key" = ?', (key,))
            except sqlite3.Error as exc:
                self._writer = _discard(self._writer)
                raise StoreUnreachable(f"the failed-login file cannot be written ({exc})") from None

    async def close(self) -> None:
        with self._lock:
            self._reader = _discard(self._reader)
            self._writer = _discard(self._writer)


def _discard(connection: sqlite3.Connection | None) -> sqlite3.Connection | None:
    """Close `connection` if there is one; None, to be assigned over it."""
    if connection is not None:
        try:
            connection.close()
        except sqlite3.Error:
            pass
    return None


class RedisFailures:
    """The failures in Redis, one sorted set per key (scored by moment), shared by every host.

    Each set expires a window after its last failure, so Redis keeps nothing for quiet keys.
    """

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix + "login:"

    async def recent(self, keys: Sequence[str], since: float) -> list[tuple[int, float]]:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.zcount(self.prefix + key, f"({since}", "+inf")
                    pipe.zrangebyscore(self.prefix + key, f"({since}", "+inf", start=0, num=1, withscores=True)
                replies = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise StoreUnreachable(f"Redis cannot be reached ({type(exc).__name__})") from None
        answers = []
        for count, oldest in zip(replies[::2], replies[1::2], strict=True):
            answers.append((int(count), float(oldest[0][1]) if oldest else 0.0))
        return answers

    async def add(self, keys: Sequence[tuple[str, int]], now: float, window: float) -> None:
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for key, limit in keys:
                    name = self.prefix + key
                    pipe.zadd(name, {f"{now:.6f}:{secrets.token_hex(4)}": now})
                    pipe.zremrangebyscore(name, "-inf", now - window)
                    pipe.zremrangebyrank(name, 0, -max(1, limit) - 1)
                    pipe.pexpire(name, int(window * 1000) + 1000)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise StoreUnreachable(f"Redis cannot be reached ({type(exc).__name__})") from None

    async def forget(self, key: str) -> None:
        try:
            await self.redis.delete(self.prefix + key)
        except (RedisError, OSError) as exc:
            raise StoreUnreachable(f"Redis cannot be reached ({type(exc).__name__})") from None

    async def close(self) -> None:
        """The Redis client belongs to the host's cluster state, which closes it."""
