"""A small connection pool shared by the engines: at most `size` connections per database.

Connections are opened lazily and handed out last-in first-out (the warmest first). One whose
statement found the database unavailable, timed out or was cancelled is thrown away, so that a
database that comes back is met with fresh connections and none is reused mid-statement.
Opening retries once after a short pause: a failed connect is often a blip (a restarting
server, a failover) rather than an outage.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

from redhorn.errors import DatabaseUnavailable, QueryTimeout
from redhorn.sql.dialect import Dialect
from redhorn.sql.statement import Statement

Row = tuple[Any, ...]

Connection = TypeVar("Connection")

CONNECT_ATTEMPTS = 2
RETRY_PAUSE_SECONDS = 0.2


class ConnectionPool(Generic[Connection]):
    """Connections to one database, opened by `open` and closed by `close`.

    A semaphore of `size` slots bounds the connections: a statement takes a slot, then an idle
    connection or, if there is none, a new one. A discarded connection frees its slot like any
    other, so a waiter always goes on to open a fresh connection; no one waits for a connection
    that will never come back.
    """

    def __init__(
        self,
        open: Callable[[], Awaitable[Connection]],
        close: Callable[[Connection], Awaitable[None]],
        size: int,
    ) -> None:
        self._open = open
        self._close = close
        self.size = size
        self._slots = asyncio.Semaphore(size)
        self._idle: list[Connection] = []

    async def _open_with_retry(self) -> Connection:
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                return await self._open()
            except DatabaseUnavailable:
                if attempt + 1 == CONNECT_ATTEMPTS:
                    raise
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
        raise AssertionError("unreachable")  # pragma: no cover

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A connection for one statement; discarded if the database turned out unavailable.

        Raises:
            DatabaseUnavailable: no connection could be opened.
        """
        async with self._slots:
            connection = self._idle.pop() if self._idle else await self._open_with_retry()
            healthy = True
            try:
                yield connection
            except (DatabaseUnavailable, QueryTimeout, asyncio.CancelledError):
                # The connection may be broken, or still busy with a cancelled statement.
                healthy = False
                raise
            finally:
                if healthy:
                    self._idle.append(connection)
                else:
                    with contextlib.suppress(Exception):
                        await self._close(connection)

    async def close(self) -> None:
        while self._idle:
            with contextlib.suppress(Exception):
                await self._close(self._idle.pop())


class PooledEngine:
    """What the engines share: a pool per database, a ping that reads the database, closing them all.

    Subclasses set `dialect` and `fetch`.
    """

    dialect: Dialect

    def __init__(self) -> None:
        self._pools: dict[str, ConnectionPool[Any]] = {}

    async def fetch(self, database: str, statement: Statement, *, timeout: float | None = None) -> list[Row]:
        raise NotImplementedError

    async def ping(self, database: str) -> None:
        await self.fetch(database, Statement(self.dialect.ping_sql), timeout=5)

    async def close(self) -> None:
        for pool in self._pools.values():
            await pool.close()
        self._pools.clear()
