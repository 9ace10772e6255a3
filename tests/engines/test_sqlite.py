"""The embedded engine turns SQLite's failures into the three conditions the API answers for.

A locked or unreadable file is `DatabaseUnavailable` (503), an interrupted statement `QueryTimeout`,
a statement too deep for SQLite's parser `QueryTooComplex` (400); a mistake in the SQL itself is
left to surface as the driver's error. Each case runs against a small database file of its own.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from redhorn.engines.sqlite import SqliteEngine, sqlite_uri
from redhorn.errors import DatabaseUnavailable, QueryTimeout, QueryTooComplex
from redhorn.sql.statement import Statement

ENDLESS = Statement("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c")
ALL_ROWS = Statement('SELECT "No" FROM "Itm" ORDER BY "No"')


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    with sqlite3.connect(tmp_path / "F0042.db") as connection:
        connection.execute('CREATE TABLE "Itm" ("No" INTEGER PRIMARY KEY)')
        connection.executemany('INSERT INTO "Itm" VALUES (?)', [(1,), (2,)])
    connection.close()
    return tmp_path


@pytest.fixture
async def engine(folder: Path) -> AsyncIterator[SqliteEngine]:
    created = SqliteEngine(folder, timeout=30)
    yield created
    await created.close()


async def test_a_statement_interrupted_from_outside_is_a_timeout_and_the_engine_recovers(engine: SqliteEngine):
    assert await engine.fetch("F0042", ALL_ROWS) == [(1,), (2,)]
    (connection,) = engine._pools[("F0042", "scan")]._idle
    running = asyncio.create_task(engine.fetch("F0042", ENDLESS))
    await asyncio.sleep(0.2)
    await connection.interrupt()
    with pytest.raises(QueryTimeout, match="interrupted"):
        await running
    assert await engine.fetch("F0042", ALL_ROWS) == [(1,), (2,)], "a fresh connection serves the next statement"
    assert engine._pools[("F0042", "scan")]._idle != [connection], "the interrupted connection was not reused"


async def test_a_database_another_writer_has_locked_is_unavailable_until_it_lets_go(engine: SqliteEngine, folder: Path):
    # A short busy timeout on the engine's (single) connection keeps the wait for the lock brief.
    assert await engine.fetch("F0042", Statement("PRAGMA busy_timeout = 50")) == [(50,)]
    writer = sqlite3.connect(folder / "F0042.db", isolation_level=None)
    try:
        writer.execute("BEGIN EXCLUSIVE")
        writer.execute('INSERT INTO "Itm" VALUES (3)')
        with pytest.raises(DatabaseUnavailable, match="'F0042' cannot be read") as raised:
            await engine.fetch("F0042", ALL_ROWS)
        assert "locked" in str(raised.value.__cause__)
        writer.execute("COMMIT")
    finally:
        writer.close()
    assert await engine.fetch("F0042", ALL_ROWS) == [(1,), (2,), (3,)]


async def test_the_engine_never_writes_a_write_is_refused_as_a_read_only_database(engine: SqliteEngine, folder: Path):
    with pytest.raises(DatabaseUnavailable) as raised:
        await engine.fetch("F0042", Statement('DELETE FROM "Itm"'))
    assert "readonly" in str(raised.value.__cause__)
    with sqlite3.connect(folder / "F0042.db") as check:
        assert check.execute('SELECT count(*) FROM "Itm"').fetchone() == (2,)
    check.close()


async def test_a_statement_too_deep_for_sqlite_is_too_complex_not_a_server_error(engine: SqliteEngine):
    deep = Statement("SELECT " + " + ".join(["1"] * 1100))
    with pytest.raises(QueryTooComplex):
        await engine.fetch("F0042", deep)
    assert await engine.fetch("F0042", Statement("SELECT 1 + 1")) == [(2,)]


async def test_a_mistake_in_the_sql_surfaces_as_the_drivers_own_error(engine: SqliteEngine):
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        await engine.fetch("F0042", Statement('SELECT * FROM "Missing"'))


async def test_a_file_that_is_no_database_is_unavailable(engine: SqliteEngine, folder: Path):
    (folder / "F0043.db").write_bytes(b"this is not a SQLite file" * 100)
    with pytest.raises(DatabaseUnavailable, match="'F0043' cannot be read") as raised:
        await engine.fetch("F0043", ALL_ROWS)
    assert isinstance(raised.value.__cause__, sqlite3.DatabaseError)
    assert await engine.fetch("F0042", ALL_ROWS) == [(1,), (2,)], "other databases are not affected"


async def test_a_database_sqlite_refuses_to_open_is_unavailable(engine: SqliteEngine, monkeypatch: pytest.MonkeyPatch):
    async def refuse(*args: object, **kwargs: object) -> None:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr("aiosqlite.connect", refuse)
    with pytest.raises(DatabaseUnavailable, match="'F0042' cannot be opened") as raised:
        await engine.fetch("F0042", ALL_ROWS)
    assert isinstance(raised.value.__cause__, sqlite3.OperationalError)


def test_the_uri_of_a_path_with_uri_characters_names_that_file(tmp_path: Path):
    path = tmp_path / "odd #?% name" / "F0042.db"
    uri = sqlite_uri(path, "ro")
    assert uri.startswith("file:///") and uri.endswith("/F0042.db?mode=ro")
    assert "#" not in uri and uri.count("?") == 1
    path.parent.mkdir()
    sqlite3.connect(path).close()
    connection = sqlite3.connect(sqlite_uri(path, "rw"), uri=True)
    connection.execute("CREATE TABLE t (x)")
    connection.close()
    with sqlite3.connect(path) as direct:
        assert direct.execute("SELECT name FROM sqlite_master").fetchall() == [("t",)]
    direct.close()
