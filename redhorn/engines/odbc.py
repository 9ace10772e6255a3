"""The production engine: SQL Server, or any ODBC source, through aioodbc.

Each database (`F9999`, `vbsys`, `Catalog`) gets its own pool of connections whose connection
string names that database (see `redhorn.engines.connect`). pyodbc's calls run in worker threads,
so the event loop never blocks. A statement past its time limit, or whose client went away, is
cancelled in the driver (`SQLCancel`), and its connection is thrown away rather than reused.
Driver errors are sorted into the two conditions the API knows: the database cannot be reached
(503 with Retry-After) and the statement ran too long (503); anything else is a bug in our SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

import aioodbc
import pyodbc

from redhorn.engines.base import Lane, Row, is_too_complex
from redhorn.engines.pool import (
    DEFAULT_STATEMENT_TIMEOUT_SECONDS,
    DEFAULT_WAIT_SECONDS,
    ODBC_POOL_SIZE,
    PooledEngine,
)
from redhorn.errors import DatabaseUnavailable, QueryTimeout, QueryTooComplex
from redhorn.settings import parse_connection_string
from redhorn.sql.dialect import Dialect
from redhorn.sql.statement import Statement

logger = logging.getLogger("redhorn.engines")

# SQLSTATE classes and codes that mean "the database is not there", not "the SQL is wrong".
_UNAVAILABLE_STATES = ("08", "HYT01", "IM", "28000", "42000:4060")
_TIMEOUT_STATES = ("HYT00", "HY008")
# What the SQLite ODBC driver says (SQLSTATE HY000) when its file is missing, unreadable or damaged.
_UNAVAILABLE_TEXT = ("unable to open", "disk i/o", "not a database", "malformed", "connect failed", "locked")
LOGIN_TIMEOUT_SECONDS = 10
# The driver's own statement limit is in whole seconds, and 0 would mean none at all.
MIN_DRIVER_TIMEOUT_SECONDS = 1
_SECRET_KEYS = ("pwd", "password")


def driver_message(exc: pyodbc.Error, secrets: Iterable[str] = ()) -> str:
    """The driver's whole message on one line.

    Its SQLSTATE alone says nothing of what to fix (01000 is also "the driver library cannot be
    loaded"); the text says which driver, server or login. A secret the driver might echo is blanked.
    """
    parts = [" ".join(str(arg).split()) for arg in exc.args]  # one line, whatever the driver's line breaks
    # pyodbc's args are (SQLSTATE, message), and the message repeats the SQLSTATE: said once.
    kept = [part for index, part in enumerate(parts) if part and not any(part in later for later in parts[index + 1 :])]
    text = " ".join(kept) or type(exc).__name__
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def connection_secrets(connection_string: str) -> list[str]:
    """The password of an ODBC connection string, as written and without its braces."""
    pairs = parse_connection_string(connection_string)
    values = [pairs[key] for key in _SECRET_KEYS if key in pairs]
    return [*values, *(value[1:-1] for value in values if value.startswith("{") and value.endswith("}"))]


def is_unavailable(exc: pyodbc.Error) -> bool:
    """Whether a driver error means the database cannot be reached or read."""
    state = str(exc.args[0]) if exc.args else ""
    text = " ".join(str(arg) for arg in exc.args).lower()
    if isinstance(exc, pyodbc.OperationalError | pyodbc.InterfaceError) and not state.startswith(_TIMEOUT_STATES):
        return True
    if state.startswith(_UNAVAILABLE_STATES) or (state == "42000" and "cannot open database" in text):
        return True
    return any(part in text for part in _UNAVAILABLE_TEXT)


def is_timeout(exc: pyodbc.Error) -> bool:
    return bool(exc.args) and str(exc.args[0]).startswith(_TIMEOUT_STATES)


class OdbcEngine(PooledEngine):
    """Databases reached through ODBC, one pool per database.

    Args:
        connection_string: the ODBC connection string for a database name (see `connect.py`).
        dialect: the SQL the source speaks (`mssql`; `sqlite` for the SQLite ODBC driver).
        pool_size: connections per database for scans (lookups by key have one more of their own).
        timeout: the default statement time limit in seconds.
        wait_seconds: how long a statement waits for a connection before `DatabaseBusy`.
    """

    def __init__(
        self,
        connection_string: Callable[[str], str],
        dialect: Dialect,
        *,
        pool_size: int = ODBC_POOL_SIZE,
        timeout: float = DEFAULT_STATEMENT_TIMEOUT_SECONDS,
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
    ) -> None:
        self.connection_string = connection_string
        self.dialect = dialect
        self.pool_size = pool_size
        self.timeout = timeout
        self.wait_seconds = wait_seconds
        super().__init__()

    async def _close(self, connection: Any) -> None:
        await connection.close()

    async def _open(self, database: str) -> Any:
        query_timeout = max(MIN_DRIVER_TIMEOUT_SECONDS, int(self.timeout))

        async def limit_statements(connection: pyodbc.Connection) -> None:
            connection.timeout = query_timeout  # the driver's own limit, behind ours

        dsn = self.connection_string(database)
        try:
            return await aioodbc.connect(
                dsn=dsn, autocommit=True, timeout=LOGIN_TIMEOUT_SECONDS, after_created=limit_statements
            )
        except pyodbc.Error as exc:
            # The driver's message may name the server or the login; never the connection string or password.
            logger.warning(
                "Cannot connect to database %r (check the server and VismaConnection.VismaDbConnectionString): %s",
                database,
                driver_message(exc, connection_secrets(dsn)),
            )
            raise DatabaseUnavailable(f"Database {database!r} cannot be reached") from exc

    async def fetch(
        self, database: str, statement: Statement, *, timeout: float | None = None, lane: Lane = "scan"
    ) -> list[Row]:
        limit = self.timeout if timeout is None else timeout
        async with self._pool(database, lane).connection() as connection:
            cursor = await connection.cursor()
            # The statement runs as a task of its own, so that on a timeout or a cancellation it can
            # be cancelled in the driver and then awaited: pyodbc must be done with the cursor in
            # its worker thread before the cursor or its connection is closed from another.
            work = asyncio.ensure_future(_execute(cursor, statement))
            try:
                async with asyncio.timeout(limit):
                    rows = await asyncio.shield(work)
            except TimeoutError:
                await _cancel(cursor, work)
                raise QueryTimeout(f"The query ran longer than {limit:g} seconds and was stopped") from None
            except asyncio.CancelledError:
                await _cancel(cursor, work)  # the client went away: stop the work it asked for
                raise
            except pyodbc.Error as exc:
                if is_timeout(exc):
                    raise QueryTimeout("The query ran too long and was stopped by the database") from exc
                if is_unavailable(exc):
                    raise DatabaseUnavailable(f"Database {database!r} cannot be read") from exc
                if is_too_complex(str(exc)):
                    raise QueryTooComplex("The query is too deeply nested for the database") from exc
                raise
            finally:
                if work.done():
                    with contextlib.suppress(Exception):
                        await cursor.close()
        return rows


async def _execute(cursor: Any, statement: Statement) -> list[Row]:
    await cursor.execute(statement.sql, *statement.params)
    rows: list[Row] = await cursor.fetchall()
    return rows


async def _cancel(cursor: Any, work: asyncio.Future[list[Row]]) -> None:
    """Cancel the statement in the driver (SQLCancel is meant to be called from another thread),
    then wait until the worker thread has let go of the cursor."""
    with contextlib.suppress(Exception):
        cursor._impl.cancel()  # aioodbc keeps pyodbc's cursor here
    await asyncio.wait((work,))
    if not work.cancelled():
        work.exception()  # retrieved: the statement's own error is expected here
