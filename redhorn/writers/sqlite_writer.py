"""A SQLite file written from one thread of its own, so the event loop never waits on a write.

SQLite takes one writer at a time per file, so one thread per file loses nothing and keeps the
connection in the thread that made it. Work runs as `work(connection)` in that thread; lock
waits longer than `busy_timeout` and files that cannot be written become `WriterUnavailable`
(503 with `Retry-After`), never a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from redhorn.engines.sqlite import sqlite_uri
from redhorn.errors import WriterUnavailable

T = TypeVar("T")


class SqliteWriter:
    """One file's writer thread and its connection, opened in that thread on first use.

    Args:
        path: the database file; it must exist unless `create` is true.
        busy_timeout: seconds to wait for another connection's write lock.
        setup: run once in a transaction after opening (creating the tables the caller keeps).
    """

    def __init__(
        self,
        path: Path,
        busy_timeout: float,
        setup: Callable[[sqlite3.Connection], None] | None = None,
        *,
        create: bool = False,
    ) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.setup = setup
        self.create = create
        self.connection: sqlite3.Connection | None = None
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"writer-{path.stem}")

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.thread, self._call, work)

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return work(self._connection())
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise WriterUnavailable(
                    f"Database {self.path.stem!r} is busy with other writes; try again", retry_after=1
                ) from None
            self._discard()
            raise self._unwritable() from exc
        except sqlite3.DatabaseError as exc:
            self._discard()
            raise self._unwritable() from exc

    def _unwritable(self) -> WriterUnavailable:
        return WriterUnavailable(f"Database {self.path.stem!r} cannot be written", retry_after=5)

    def _connection(self) -> sqlite3.Connection:
        if self.connection is None:
            if self.create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            elif not self.path.is_file():
                raise WriterUnavailable(f"Database {self.path.stem!r} is missing", retry_after=5)
            mode = "rwc" if self.create else "rw"
            connection = sqlite3.connect(
                sqlite_uri(self.path, mode), uri=True, isolation_level=None, timeout=self.busy_timeout
            )
            with contextlib.suppress(sqlite3.OperationalError):  # another process may hold it; it is WAL already
                connection.execute("PRAGMA journal_mode = WAL")
            # Durable against a crash of the process; in WAL mode only a power cut can lose the last commits.
            connection.execute("PRAGMA synchronous = NORMAL")
            if self.setup is not None:
                connection.execute("BEGIN IMMEDIATE")
                self.setup(connection)
                connection.execute("COMMIT")
            self.connection = connection
        return self.connection

    def _discard(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(sqlite3.Error):
                self.connection.close()
            self.connection = None

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self.thread, self._discard)
        self.thread.shutdown(wait=True)
