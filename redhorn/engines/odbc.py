"""The production engine: SQL Server, or any ODBC source, through aioodbc.

Each database (`F9999`, `vbsys`, `Catalog`) gets its own pool of connections whose connection
string names that database (see `redhorn.engines.connect`). pyodbc's calls run in worker threads,
so the event loop never blocks; a statement makes one trip to a worker thread, which opens the
cursor, executes, fetches every row and closes the cursor (aioodbc's cursor would make a trip for
each of the four, each a hand-over to a thread and a wake-up of the event loop). A statement past
its time limit, or whose client went away, is cancelled in the driver (`SQLCancel`, from the event
loop's thread while the worker is in the driver), and its connection is thrown away rather than
reused once the worker has let go of it.
Driver errors are sorted into the two conditions the API knows: the database cannot be reached
(503 with Retry-After) and the statement ran too long (503); anything else is a bug in our SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
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
# What the SQLite ODBC driver's library is called (`sqlite3odbc.so`, `sqlite3odbc.dll`).
_SQLITE_DRIVER_NAME = "sqlite"
# The SQLite ODBC driver's key for converting narrow text to Windows' ANSI code page
# (`redhorn.engines.connect` sets it to 0), and the first letters by which the driver takes a value as true.
_CODE_PAGE_KEY = "oemcp"
_DRIVER_TRUE = tuple("YyTt123456789")


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


def reads_utf8(driver: str, connection_string: str) -> bool:
    """Whether a connection's text is read as UTF-8 in narrow characters rather than as UTF-16.

    The SQLite ODBC driver keeps text as UTF-8: read as UTF-16, every value is converted by the
    driver and back by pyodbc, which costs as much as the rest of a JSON page; read narrow, its
    bytes are handed over as they are, unless the driver converts them to Windows' ANSI code page
    (`OEMCP`, which a string that asks for it keeps, read as UTF-16 then). SQL Server's nvarchar is
    UTF-16 on the server: its text is read as it is.
    """
    if _SQLITE_DRIVER_NAME not in driver.lower():
        return False
    code_page = parse_connection_string(connection_string).get(_CODE_PAGE_KEY, "0")
    return not code_page.strip().startswith(_DRIVER_TRUE)


def _read_utf8(connection: pyodbc.Connection) -> None:
    """Have pyodbc ask the driver for its text as narrow characters and decode them as UTF-8."""
    connection.setdecoding(pyodbc.SQL_WCHAR, encoding="utf-8", ctype=pyodbc.SQL_CHAR)
    connection.setdecoding(pyodbc.SQL_CHAR, encoding="utf-8", ctype=pyodbc.SQL_CHAR)


@dataclass(frozen=True, slots=True)
class _Connection:
    """A pooled connection: aioodbc's (whose `_conn` is pyodbc's, and whose `_execute` runs a call
    in a worker thread), and whether a statement on it may be cancelled while its rows are fetched.

    SQL Server streams rows while they are fetched, so a cancel then stops real work. The SQLite
    ODBC driver reads a statement's whole result while executing it, and outside Windows its
    SQLCancel also frees that result from the cancelling thread: a fetch reading it in the worker
    thread would crash the process. With that driver a statement is cancelled only while it executes.
    """

    connection: Any
    cancel_while_fetching: bool


class _Running:
    """One statement, between the worker thread that runs it and the event loop that may cancel it.

    The lock is held only for moments, never across a call into the driver except the cancel
    itself: so the worker cannot close the cursor under a cancel, nor start a statement already
    cancelled while it waited for a thread.
    """

    __slots__ = ("cancelled", "cursor", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cursor: pyodbc.Cursor | None = None  # set while a cancel may reach the statement
        self.cancelled = False

    def cancel(self) -> None:
        """Cancel the statement in the driver if it is there (SQLCancel is meant to be called from
        another thread), or keep it from starting."""
        with self.lock:
            self.cancelled = True
            if self.cursor is not None:
                with contextlib.suppress(pyodbc.Error):
                    self.cursor.cancel()


def _run(connection: pyodbc.Connection, statement: Statement, running: _Running, cancel_while_fetching: bool) -> Any:
    """Open a cursor, execute, fetch every row and close the cursor, in the worker thread.

    Rows stay pyodbc's `Row` objects: they index like tuples, and copying them into tuples would
    cost a step per row for nothing.
    """
    cursor = connection.cursor()
    try:
        with running.lock:
            if running.cancelled:
                raise pyodbc.OperationalError("HY008", "Operation canceled before it started")
            running.cursor = cursor
        cursor.execute(statement.sql, *statement.params)
        if not cancel_while_fetching:
            with running.lock:
                running.cursor = None
        return cursor.fetchall()
    finally:
        with running.lock:
            running.cursor = None
        with contextlib.suppress(pyodbc.Error):
            cursor.close()  # an error closing must not hide the statement's own


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

    async def _close(self, connection: _Connection) -> None:
        await connection.connection.close()

    async def _open(self, database: str) -> _Connection:
        query_timeout = max(MIN_DRIVER_TIMEOUT_SECONDS, int(self.timeout))

        driver: list[str] = []
        dsn = self.connection_string(database)

        async def set_up(connection: pyodbc.Connection) -> None:
            connection.timeout = query_timeout  # the driver's own limit, behind ours
            driver.append(str(connection.getinfo(pyodbc.SQL_DRIVER_NAME)))  # the driver's answer, no round trip
            if reads_utf8(driver[0], dsn):
                _read_utf8(connection)

        try:
            connection = await aioodbc.connect(
                dsn=dsn, autocommit=True, timeout=LOGIN_TIMEOUT_SECONDS, after_created=set_up
            )
        except pyodbc.Error as exc:
            # The driver's message may name the server or the login; never the connection string or password.
            logger.warning(
                "Cannot connect to database %r (check the server and VismaConnection.VismaDbConnectionString): %s",
                database,
                driver_message(exc, connection_secrets(dsn)),
            )
            raise DatabaseUnavailable(f"Database {database!r} cannot be reached") from exc
        return _Connection(connection, _SQLITE_DRIVER_NAME not in driver[0].lower())

    async def fetch(
        self, database: str, statement: Statement, *, timeout: float | None = None, lane: Lane = "scan"
    ) -> list[Row]:
        limit = self.timeout if timeout is None else timeout
        async with self._pool(database, lane).connection() as pooled:
            connection = pooled.connection
            running = _Running()
            # The statement's future is shielded from the timeout and from cancellation: on either,
            # the statement is cancelled in the driver and then awaited, since pyodbc must be done
            # with the cursor in its worker thread before the connection is closed or reused.
            work = connection._execute(_run, connection._conn, statement, running, pooled.cancel_while_fetching)
            try:
                async with asyncio.timeout(limit):
                    rows: list[Row] = await asyncio.shield(work)
            except TimeoutError:
                await _cancel(running, work)
                raise QueryTimeout(f"The query ran longer than {limit:g} seconds and was stopped") from None
            except asyncio.CancelledError:
                await _cancel(running, work)  # the client went away: stop the work it asked for
                raise
            except pyodbc.Error as exc:
                if is_timeout(exc):
                    raise QueryTimeout("The query ran too long and was stopped by the database") from exc
                if is_unavailable(exc):
                    raise DatabaseUnavailable(f"Database {database!r} cannot be read") from exc
                if is_too_complex(str(exc)):
                    raise QueryTooComplex("The query is too deeply nested for the database") from exc
                raise
        return rows


async def _cancel(running: _Running, work: asyncio.Future[list[Row]]) -> None:
    """Cancel the statement in the driver, then wait until the worker thread has let go of the cursor."""
    running.cancel()
    await asyncio.wait((work,))
    if not work.cancelled():
        work.exception()  # retrieved: the statement's own error is expected here
