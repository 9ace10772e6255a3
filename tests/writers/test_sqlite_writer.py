"""A writer's file that is busy, missing or broken is a 503 the client may retry, never a 500.

Busy (another connection holds the write lock past `busy_timeout`) is worth a retry in a second,
and the connection is kept; a file that cannot be written is worth one in five, and its
connection is thrown away so that the file is opened afresh once it is whole again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from redhorn.errors import WriterUnavailable
from redhorn.writers.sqlite_writer import SqliteWriter


def insert(value: int):
    def work(connection: sqlite3.Connection) -> int:
        connection.execute("INSERT INTO t VALUES (?)", (value,))
        return int(connection.execute("SELECT count(*) FROM t").fetchone()[0])

    return work


def create_table(connection: sqlite3.Connection) -> None:
    connection.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")


@pytest.fixture
async def writer(tmp_path: Path) -> AsyncIterator[SqliteWriter]:
    created = SqliteWriter(tmp_path / "data" / "F0042.db", busy_timeout=0.05, setup=create_table, create=True)
    yield created
    await created.close()


async def test_a_created_file_is_set_up_once_in_write_ahead_log_mode(writer: SqliteWriter):
    assert await writer.run(insert(1)) == 1
    assert await writer.run(insert(2)) == 2
    assert writer.path.is_file(), "the folder and the file were created"
    mode = await writer.run(lambda connection: connection.execute("PRAGMA journal_mode").fetchone()[0])
    assert mode == "wal"


async def test_a_missing_file_is_not_created_unless_asked(tmp_path: Path):
    writer = SqliteWriter(tmp_path / "F0042.db", busy_timeout=0.05)
    try:
        with pytest.raises(WriterUnavailable, match="'F0042' is missing") as raised:
            await writer.run(insert(1))
        assert raised.value.retry_after == 5
        assert not writer.path.exists()
    finally:
        await writer.close()


async def test_an_existing_file_is_written_without_a_setup(tmp_path: Path):
    path = tmp_path / "F0042.db"
    with sqlite3.connect(path) as connection:
        create_table(connection)
    connection.close()
    writer = SqliteWriter(path, busy_timeout=0.05)
    try:
        assert await writer.run(insert(7)) == 1
    finally:
        await writer.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT x FROM t").fetchall() == [(7,)]
    connection.close()


async def test_a_file_another_writer_holds_is_busy_then_written_once_it_lets_go(writer: SqliteWriter):
    assert await writer.run(insert(1)) == 1
    other = sqlite3.connect(writer.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(WriterUnavailable, match="busy with other writes") as raised:
            await writer.run(insert(2))
        assert raised.value.retry_after == 1
        kept = writer.connection
        other.execute("ROLLBACK")
    finally:
        other.close()
    assert await writer.run(insert(3)) == 2
    assert writer.connection is kept, "a busy file keeps its connection"


async def test_a_failing_statement_drops_the_connection_and_the_next_write_reopens(writer: SqliteWriter):
    assert await writer.run(insert(1)) == 1
    first = writer.connection

    def broken(connection: sqlite3.Connection) -> None:
        connection.execute("INSERT INTO missing VALUES (1)")

    with pytest.raises(WriterUnavailable, match="'F0042' cannot be written") as raised:
        await writer.run(broken)
    assert raised.value.retry_after == 5
    assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
    assert writer.connection is None
    assert await writer.run(insert(2)) == 2
    assert writer.connection is not first


async def test_a_file_that_is_no_database_cannot_be_written(tmp_path: Path):
    path = tmp_path / "F0042.db"
    path.write_bytes(b"not a database at all" * 200)
    writer = SqliteWriter(path, busy_timeout=0.05, setup=create_table)
    try:
        with pytest.raises(WriterUnavailable, match="cannot be written") as raised:
            await writer.run(insert(1))
        assert isinstance(raised.value.__cause__, sqlite3.DatabaseError)
        assert writer.connection is None
    finally:
        await writer.close()
    assert path.read_bytes() == b"not a database at all" * 200, "the file was left as it was"
