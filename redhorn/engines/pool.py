"""A small connection pool shared by the engines: at most `size` connections per database.

Connections are opened lazily and handed out last-in first-out (the warmest first). One whose
statement found the database unavailable, timed out or was cancelled is thrown away, so that a
database that comes back is met with fresh connections and none is reused mid-statement.
Opening retries once after a short pause: a failed connect is often a blip (a restarting
server, a failover) rather than an outage. Waiting for a connection is bounded: past
`wait_seconds` the statement is refused with `DatabaseBusy` (503, Retry-After) instead of
queueing without end behind slow ones.

Each database has a pool per lane (`base.Lane`): a few connections for scans, and one or more of
their own for lookups by key.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from typing import Any, Generic, Protocol, TypeVar

from redhorn.engines.base import Lane
from redhorn.errors import DatabaseBusy, DatabaseUnavailable, QueryTimeout
from redhorn.sql.dialect import Dialect
from redhorn.sql.statement import Statement

Row = tuple[Any, ...]

Connection = TypeVar("Connection")

# The engines' defaults, in one place; the settings' `Query` section overrides the first three.
# A statement's time limit, when its caller gives none.
DEFAULT_STATEMENT_TIMEOUT_SECONDS = 30.0
DEFAULT_WAIT_SECONDS = 10.0
# Connections per database for scans. SQLite: one, as more reader threads only fight over
# Python's GIL and lose throughput (`make bench`).
SQLITE_POOL_SIZE = 1
ODBC_POOL_SIZE = 4
LOOKUP_POOL_SIZE = 1
CONNECT_ATTEMPTS = 2
RETRY_PAUSE_SECONDS = 0.2
# What a client refused with `DatabaseBusy` is told to wait before it tries again.
BUSY_RETRY_AFTER_SECONDS = 1
# A ping reads next to nothing: a database that takes longer to answer is as good as down.
PING_TIMEOUT_SECONDS = 5.0

# Seconds this request's statements held a connection (opening it, running, fetching), added up
# for whoever put a one-element list here: a request's `Server-Timing: db`. Waiting for a free
# connection is not counted; that is the pool's wait, measured by its meter.
database_seconds: ContextVar[list[float] | None] = ContextVar("database_seconds", default=None)


class PoolMeter(Protocol):
    """What a pool reports to whoever watches it (the server's metrics); one per pool."""

    def taken(self, waited: float) -> None:
        """A statement took a connection after waiting `waited` seconds for a free slot."""

    def given_back(self) -> None:
        """That statement's connection went back (or was thrown away)."""


# Makes the meter of a new pool: (database, lane, size) -> meter.
PoolMeters = Callable[[str, Lane, int], PoolMeter]


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
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
        name: str = "",
        meter: PoolMeter | None = None,
    ) -> None:
        self._open = open
        self._close = close
        self.size = size
        self.wait_seconds = wait_seconds
        self.name = name
        self.meter = meter
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
            DatabaseBusy: every connection stayed busy for `wait_seconds`.
        """
        waited = 0.0
        if self._slots.locked():  # a free slot (the usual case) is taken at once, with no timer
            started = time.perf_counter()
            await self._wait_for_slot()
            waited = time.perf_counter() - started
        else:
            await self._slots.acquire()
        meter = self.meter
        if meter is not None:
            meter.taken(waited)
        spent = database_seconds.get()
        held = time.perf_counter() if spent is not None else 0.0
        try:
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
        finally:
            self._slots.release()
            if spent is not None:
                spent[0] += time.perf_counter() - held
            if meter is not None:
                meter.given_back()

    async def _wait_for_slot(self) -> None:
        """Take a slot within `wait_seconds`, or refuse.

        Raises:
            DatabaseBusy: every connection stayed busy that long.
        """
        try:
            async with asyncio.timeout(self.wait_seconds):
                await self._slots.acquire()
        except TimeoutError:
            raise DatabaseBusy(
                f"Database {self.name!r} is busy with other queries; try again shortly",
                retry_after=BUSY_RETRY_AFTER_SECONDS,
            ) from None

    async def close(self) -> None:
        while self._idle:
            with contextlib.suppress(Exception):
                await self._close(self._idle.pop())


class PooledEngine:
    """What the engines share: a pool per database, a ping that reads the database, closing them all.

    Subclasses set `dialect` and `fetch`.
    """

    dialect: Dialect

    pool_size: int
    wait_seconds: float
    # Set by the server to watch each pool (connections in use, waits); None: unwatched.
    meters: PoolMeters | None = None

    def __init__(self) -> None:
        self._pools: dict[tuple[str, Lane], ConnectionPool[Any]] = {}

    def _pool(self, database: str, lane: Lane) -> ConnectionPool[Any]:
        pool = self._pools.get((database, lane))
        if pool is None:
            size = LOOKUP_POOL_SIZE if lane == "lookup" else self.pool_size
            meter = self.meters(database, lane, size) if self.meters is not None else None
            pool = ConnectionPool(lambda: self._open(database), self._close, size, self.wait_seconds, database, meter)
            self._pools[(database, lane)] = pool
        return pool

    async def _open(self, database: str) -> Any:
        raise NotImplementedError

    async def _close(self, connection: Any) -> None:
        raise NotImplementedError

    async def fetch(
        self, database: str, statement: Statement, *, timeout: float | None = None, lane: Lane = "scan"
    ) -> list[Row]:
        raise NotImplementedError

    async def ping(self, database: str) -> None:
        await self.fetch(database, Statement(self.dialect.ping_sql), timeout=PING_TIMEOUT_SECONDS)

    async def close(self) -> None:
        for pool in self._pools.values():
            await pool.close()
        self._pools.clear()
