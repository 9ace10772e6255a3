"""Text through the SQLite ODBC driver: rows' JSON comes as text, read as UTF-8 without a detour
through UTF-16, and equals to the byte what the embedded engine reads as a BLOB."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pyodbc
import pytest

from redhorn.engines import odbc as odbc_module
from redhorn.engines.connect import dialect_for, odbc_connection_string, odbc_pairs
from redhorn.engines.odbc import OdbcEngine, reads_utf8
from redhorn.engines.sqlite import SqliteEngine
from redhorn.sql.statement import Statement
from tests.conftest import ODBC_DRIVER, require_odbc_driver

# Non-ASCII in one, two, three and four UTF-8 bytes, and what JSON escapes (quote, backslash,
# control characters, NUL); the line separators that JavaScript once could not hold.
NAMES = ["Sjørør ApS", 'say "hi"', "a\\b", "line\nbreak\ttab", "\u0000x", "€ \u2028 \u2029", "🚀 ø æ å", "", "}{"]
# The driver ends plain text at a NUL (JSON has it escaped): such values are compared as JSON only.
WITHOUT_NUL = 'instr("Nm", char(0)) = 0'
COLUMNS = (("No", "No"), ("Name", "Nm"), ("Price", "Pr"), ("Note", "Nt"))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    with contextlib.closing(sqlite3.connect(tmp_path / "F0042.db")) as connection, connection:
        connection.execute('CREATE TABLE "Itm" ("No" INTEGER PRIMARY KEY, "Nm" TEXT, "Pr" DECIMAL(12, 2), "Nt" TEXT)')
        connection.executemany(
            'INSERT INTO "Itm" VALUES (?, ?, ?, ?)',
            [(number, name, number * 1.25, None if number % 2 else name[::-1]) for number, name in enumerate(NAMES)],
        )
    return tmp_path


def _odbc_engine(folder: Path, extra: str = "") -> OdbcEngine:
    """The ODBC engine as `create_engine` makes it for a SQLite driver's connection string."""
    text = f"Driver={ODBC_DRIVER};Database={folder}/{{database}}.db{extra}"
    return OdbcEngine(odbc_connection_string(text, folder), dialect_for(odbc_pairs(text)))


@pytest.fixture
async def odbc(folder: Path) -> AsyncIterator[OdbcEngine]:
    require_odbc_driver()
    engine = _odbc_engine(folder)
    yield engine
    await engine.close()


@pytest.fixture
async def embedded(folder: Path) -> AsyncIterator[SqliteEngine]:
    engine = SqliteEngine(folder)
    yield engine
    await engine.close()


def _json_rows(engine: OdbcEngine | SqliteEngine) -> Statement:
    sql, params = engine.dialect.json_object(COLUMNS)
    return Statement(f'SELECT {sql}, "Nm", count(*) OVER () FROM "Itm" ORDER BY "No"', tuple(params))


@pytest.fixture
def set_to_utf8(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The connections the engine set to read text as UTF-8, as it sets them."""
    connections: list[object] = []
    original = odbc_module._read_utf8

    def recorded(connection: pyodbc.Connection) -> None:
        connections.append(connection)
        original(connection)

    monkeypatch.setattr(odbc_module, "_read_utf8", recorded)
    return connections


def test_the_odbc_dialect_leaves_the_json_as_text_and_the_embedded_one_casts_it():
    odbc_sql, odbc_params = dialect_for(odbc_pairs("Driver=SQLite3;Database=x")).json_object(COLUMNS)
    embedded_sql, embedded_params = SqliteEngine.dialect.json_object(COLUMNS)
    assert "BLOB" not in odbc_sql.upper() and odbc_sql.startswith("json_object(")
    assert embedded_sql == f"CAST({odbc_sql} AS BLOB)" and odbc_params == embedded_params


@pytest.mark.odbc
async def test_json_rows_through_odbc_equal_the_embedded_engines_bytes(odbc: OdbcEngine, embedded: SqliteEngine):
    through_odbc = await odbc.fetch("F0042", _json_rows(odbc))
    through_sqlite = await embedded.fetch("F0042", _json_rows(embedded))
    assert all(isinstance(row[0], str) for row in through_odbc), "text from the driver, not a BLOB"
    assert [bytes(row[0]) for row in embedded.dialect.json_row_bytes(through_sqlite)] == [
        row[0] for row in odbc.dialect.json_row_bytes(through_odbc)
    ]
    assert b'"Name":"Sj\xc3\xb8r\xc3\xb8r ApS"' in bytes(through_sqlite[0][0])
    assert b'"Name":"say \\"hi\\""' in bytes(through_sqlite[1][0])
    assert len(through_odbc) == len(NAMES)


@pytest.mark.odbc
async def test_plain_text_and_numbers_read_alike_through_both_engines(
    odbc: OdbcEngine, embedded: SqliteEngine, set_to_utf8: list[object]
):
    statement = Statement(
        'SELECT "Nm", "Nt", CAST("Pr" AS REAL), count(*) OVER () FROM "Itm" '
        f'WHERE "Nm" <> ? AND {WITHOUT_NUL} ORDER BY "No"',
        ("}{",),
    )
    through_odbc = [tuple(row) for row in await odbc.fetch("F0042", statement)]
    through_sqlite = [tuple(row) for row in await embedded.fetch("F0042", statement)]
    assert through_odbc == through_sqlite
    assert through_odbc[0][0] == "Sjørør ApS" and "🚀 ø æ å" in (row[0] for row in through_odbc)
    assert len(set_to_utf8) == 1, "the connection reads the driver's text as UTF-8"


@pytest.mark.odbc
async def test_a_string_that_keeps_the_code_page_reads_text_as_utf16(
    folder: Path, embedded: SqliteEngine, set_to_utf8: list[object]
):
    require_odbc_driver()
    engine = _odbc_engine(folder, ";OEMCP=1")
    try:
        rows = await engine.fetch("F0042", Statement(f'SELECT "Nm" FROM "Itm" WHERE {WITHOUT_NUL} ORDER BY "No"'))
        assert set_to_utf8 == [], "pyodbc's own reading, as UTF-16"
        expected = await embedded.fetch("F0042", Statement(f'SELECT "Nm" FROM "Itm" WHERE {WITHOUT_NUL} ORDER BY "No"'))
        assert [row[0] for row in rows] == [row[0] for row in expected]
    finally:
        await engine.close()


@pytest.mark.parametrize(
    ("driver", "connection_string", "utf8"),
    [
        pytest.param("libsqlite3odbc.so", "Driver=SQLite3;Database=x;oemcp=0", True, id="sqlite"),
        pytest.param("sqlite3odbc.dll", "Driver={SQLite3 ODBC Driver};Database=x", True, id="sqlite-unset"),
        pytest.param("sqlite3odbc.dll", "Driver=SQLite3;Database=x;OEMCP=1", False, id="sqlite-code-page"),
        pytest.param("sqlite3odbc.dll", "Driver=SQLite3;Database=x;OEMCP=Yes", False, id="sqlite-code-page-yes"),
        pytest.param("sqlite3odbc.dll", "Driver=SQLite3;Database=x;OEMCP=No", True, id="sqlite-code-page-no"),
        pytest.param("msodbcsql18.dll", "Driver={ODBC Driver 18 for SQL Server};Server=x", False, id="sql-server"),
        pytest.param("libtdsodbc.so", "Driver=FreeTDS;Server=x;oemcp=0", False, id="freetds"),
    ],
)
def test_only_the_sqlite_drivers_text_is_read_as_utf8(driver: str, connection_string: str, utf8: bool):
    assert reads_utf8(driver, connection_string) is utf8
