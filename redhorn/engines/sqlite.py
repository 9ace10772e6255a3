"""The embedded engine: SQLite files in one folder, read through aiosqlite.

Each database gets a pool of read-only connections, each with its own thread (aiosqlite's design),
so the event loop never blocks. The pool holds one connection unless configured otherwise: turning
SQLite rows into Python objects holds the GIL, and several reader threads contending for it were
measured at a quarter of one thread's throughput (`make bench`). A statement that runs past
its time limit, or whose client went away, is interrupted in SQLite rather than left running.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import cast

import aiosqlite

from redhorn.engines.base import Lane, Row, is_too_complex
from redhorn.engines.pool import (
    DEFAULT_STATEMENT_TIMEOUT_SECONDS,
    DEFAULT_WAIT_SECONDS,
    SQLITE_POOL_SIZE,
    PooledEngine,
)
from redhorn.errors import DatabaseUnavailable, QueryTimeout, QueryTooComplex
from redhorn.sql.sqlite import SqliteDialect
from redhorn.sql.statement import Statement


def sqlite_uri(path: Path, mode: str) -> str:
    """The SQLite URI of the file at `path`, opened in `mode` (`ro`, `rw`, `rwc`).

    Built by pathlib, which percent-encodes what a URI would read otherwise: formatted by hand, a
    `#` or `?` in a folder's name would end the path there and open another, empty database.
    """
    return f"{path.resolve().as_uri()}?mode={mode}"


async def _open(path: Path) -> aiosqlite.Connection:
    if not path.is_file():
        raise DatabaseUnavailable(f"Database file for {path.stem!r} is missing")
    try:
        connection = await aiosqlite.connect(sqlite_uri(path, "ro"), uri=True, check_same_thread=False)
        await connection.execute("PRAGMA query_only = 1")
    except sqlite3.Error as exc:
        raise DatabaseUnavailable(f"Database {path.stem!r} cannot be opened") from exc
    return connection


async def _close(connection: aiosqlite.Connection) -> None:
    await connection.close()


class SqliteEngine(PooledEngine):
    """Databases `<folder>/<name>.db`, e.g. `data/F9999.db`, `data/vbsys.db`."""

    dialect = SqliteDialect()

    def __init__(
        self,
        folder: Path,
        *,
        pool_size: int = SQLITE_POOL_SIZE,
        timeout: float = DEFAULT_STATEMENT_TIMEOUT_SECONDS,
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
    ) -> None:
        self.folder = folder
        self.pool_size = pool_size
        self.timeout = timeout
        self.wait_seconds = wait_seconds
        super().__init__()

    def path_of(self, database: str) -> Path:
        return self.folder / f"{database}.db"

    async def _open(self, database: str) -> aiosqlite.Connection:
        return await _open(self.path_of(database))

    async def _close(self, connection: aiosqlite.Connection) -> None:
        await _close(connection)

    async def fetch(
        self, database: str, statement: Statement, *, timeout: float | None = None, lane: Lane = "scan"
    ) -> list[Row]:
        limit = self.timeout if timeout is None else timeout
        async with self._pool(database, lane).connection() as connection:
            try:
                async with asyncio.timeout(limit):
                    rows = await connection.execute_fetchall(statement.sql, statement.params)
            except TimeoutError:
                await connection.interrupt()
                raise QueryTimeout(f"The query ran longer than {limit:g} seconds and was stopped") from None
            except asyncio.CancelledError:
                await connection.interrupt()  # the client went away: stop the work it asked for
                raise
            except sqlite3.OperationalError as exc:
                if "interrupted" in str(exc):
                    raise QueryTimeout("The query was interrupted") from exc
                if _is_unavailable(exc):
                    raise DatabaseUnavailable(f"Database {database!r} cannot be read") from exc
                if is_too_complex(str(exc)):
                    raise QueryTooComplex("The query is too deeply nested for the database") from exc
                raise
            except sqlite3.DatabaseError as exc:
                raise DatabaseUnavailable(f"Database {database!r} cannot be read") from exc
        return cast(list[Row], rows)


def _is_unavailable(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return any(part in text for part in ("unable to open", "disk i/o", "locked", "not a database", "readonly"))
