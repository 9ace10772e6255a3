"""The read suite against a real SQL Server: `REDHORN_TEST_MSSQL=<ODBC connection string> make test`.

With the variable set, the `engine` fixture (see `tests/conftest.py`) takes two more values,
`mssql` (rows encoded by redhorn) and `mssql-json` (rows written as JSON by SQL Server itself,
`Query.JsonFromDatabase`), and the read suite (`READ_SUITE`) runs once more for each; tests of
other files are not run against SQL Server (they drive SQLite files, writers or processes of
their own). Without the variable nothing changes.

Before the first such test, the demo databases the session built (`demo_folder`) are loaded into
the server, once: one database per demo file, named as the connection string names a database for
redhorn (with a `{database}` placeholder, `Database=redhorn_test_{database}` loads into
`redhorn_test_F9999`, ...; without one, into `F9999`, `vbsys`, `Catalog`, `F0001` themselves).
Each table is created with the types its catalog declares (VARCHAR(n) as nvarchar(n), DECIMAL(p,s)
as decimal(p,s), ...), its rows inserted with pyodbc's `fast_executemany`. A database the loader
made holds the table `RedhornTestDemo` (never served: redhorn's own tables start with "Redhorn")
with a fingerprint of the demo; it is reloaded only when the demo changes, and a database of the
same name without that table is never touched: the load stops with an error instead. Test
processes (pytest-xdist workers) load one at a time, under an application lock on the server.

The login needs to create databases (dbcreator) and, to reload, to drop the ones it made.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from redhorn.engines.connect import odbc_connection_string, odbc_pairs
from redhorn.settings import parse_connection_string
from redhorn.tools.demo.build import DEMO_FILES

VARIABLE = "REDHORN_TEST_MSSQL"
MSSQL_ENGINES: tuple[str, ...] = ("mssql", "mssql-json") if os.environ.get(VARIABLE) else ()
# The tests that only read (through the API, comparing with the demo's SQLite files where they
# need expected values), run against SQL Server too: files, or folders ending in "/".
READ_SUITE = (
    "tests/endpoints/test_reads.py",
    "tests/endpoints/test_expand.py",
    "tests/endpoints/test_odata.py",
    "tests/endpoints/test_export.py",
    "tests/endpoints/test_apply.py",
    "tests/properties/",
    "tests/query/",
    "tests/openapi/",
    "tests/test_error_shape.py",
)
# Changes whenever the loader would create or fill a database differently.
LOADER_VERSION = "1"
MARKER_TABLE = "RedhornTestDemo"
LOCK_NAME = "redhorn-test-demo-load"
LOCK_TIMEOUT_MS = 600_000
BATCH_ROWS = 5_000
# Text without a declared length: wide enough for any demo value; a key column must fit an index key
# (900 bytes for all its columns together), so it is shorter there.
TEXT_WITHOUT_LENGTH = "nvarchar(4000)"
KEY_TEXT_WITHOUT_LENGTH = "nvarchar(200)"
# DECIMAL without precision and scale: Visma's amounts and quantities.
DEFAULT_DECIMAL = (28, 6)
_DECLARED = re.compile(r"^\s*([A-Za-z ]+?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*$")
_INTEGERS = {"int": "int", "integer": "int", "smallint": "smallint", "tinyint": "tinyint", "bigint": "bigint"}


def is_mssql(engine: str) -> bool:
    """Whether a value of the `engine` fixture reads a real SQL Server."""
    return engine in MSSQL_ENGINES


def mssql_connection_string() -> str:
    """The connection string of `REDHORN_TEST_MSSQL`, as redhorn's settings take it."""
    return os.environ[VARIABLE]


def mssql_sections(engine: str) -> dict[str, Any]:
    """What a settings document for `engine` holds besides the connection string."""
    return {"Query": {"JsonFromDatabase": True}} if engine == "mssql-json" else {}


def quote(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"


@dataclass(frozen=True)
class LoadColumn:
    name: str
    sql_type: str
    nullable: bool
    key_position: int
    # pyodbc's parameter type, column size and scale, for `setinputsizes`.
    input_size: tuple[int, int, int]
    scale: int | None = None


def column_of(name: str, declared: str, nullable: bool, key_position: int) -> LoadColumn:
    """A demo column as SQL Server declares it, from the type its SQLite catalog declares."""
    import pyodbc

    match = _DECLARED.match(declared or "")
    base = match.group(1).lower() if match else ""
    size = int(match.group(2)) if match and match.group(2) else None
    scale = int(match.group(3)) if match and match.group(3) else 0
    if base in _INTEGERS:
        sql_type = _INTEGERS[base]
        kinds = {"int": pyodbc.SQL_INTEGER, "smallint": pyodbc.SQL_SMALLINT, "tinyint": pyodbc.SQL_TINYINT}
        return LoadColumn(name, sql_type, nullable, key_position, (kinds.get(sql_type, pyodbc.SQL_BIGINT), 0, 0))
    if base in ("decimal", "numeric"):
        precision, scale = (size, scale) if size else DEFAULT_DECIMAL
        return LoadColumn(
            name,
            f"decimal({precision}, {scale})",
            nullable,
            key_position,
            (pyodbc.SQL_DECIMAL, precision, scale),
            scale,
        )
    if "binary" in base or base == "blob":
        return LoadColumn(name, "varbinary(max)", nullable, key_position, (pyodbc.SQL_VARBINARY, 8000, 0))
    if base in ("real", "float", "double"):
        return LoadColumn(name, "float", nullable, key_position, (pyodbc.SQL_DOUBLE, 0, 0))
    text = f"nvarchar({size})" if size else (KEY_TEXT_WITHOUT_LENGTH if key_position else TEXT_WITHOUT_LENGTH)
    length = size or (200 if key_position else 4000)
    return LoadColumn(name, text, nullable, key_position, (pyodbc.SQL_WVARCHAR, length, 0))


@dataclass(frozen=True)
class LoadTable:
    name: str
    columns: tuple[LoadColumn, ...]

    def create_sql(self) -> str:
        parts = [f"{quote(c.name)} {c.sql_type} {'NULL' if c.nullable else 'NOT NULL'}" for c in self.columns]
        key = sorted((c for c in self.columns if c.key_position), key=lambda c: c.key_position)
        if key:
            parts.append(f"CONSTRAINT {quote('PK_' + self.name)} PRIMARY KEY ({', '.join(quote(c.name) for c in key)})")
        return f"CREATE TABLE [dbo].{quote(self.name)} ({', '.join(parts)})"

    def insert_sql(self) -> str:
        names = ", ".join(quote(c.name) for c in self.columns)
        return f"INSERT INTO [dbo].{quote(self.name)} ({names}) VALUES ({', '.join('?' for _ in self.columns)})"


def _served(name: str) -> bool:
    return not name.startswith(("sqlite_", "Redhorn"))


def demo_tables(connection: sqlite3.Connection) -> list[LoadTable]:
    """The tables of one demo database, as SQL Server creates them."""
    tables: list[LoadTable] = []
    for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
        if not _served(name):
            continue
        info = connection.execute('SELECT name, type, "notnull", pk FROM pragma_table_info(?)', (name,)).fetchall()
        tables.append(LoadTable(name, tuple(column_of(c, t or "", not nn, pk) for c, t, nn, pk in info)))
    return tables


def demo_objects(connection: sqlite3.Connection) -> list[str]:
    """The demo's views and indexes: their SQLite statements are T-SQL too (double-quoted names)."""
    rows = connection.execute(
        "SELECT sql FROM sqlite_master WHERE type IN ('index', 'view') AND sql IS NOT NULL "
        "AND tbl_name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND tbl_name NOT LIKE 'Redhorn%' ORDER BY type DESC, name"
    )
    return [str(sql) for (sql,) in rows]


def convert(column: LoadColumn, value: Any) -> Any:
    """A SQLite value as SQL Server's column takes it: decimals (stored as REAL) at the column's scale."""
    if value is None or column.scale is None:
        return value
    return Decimal(repr(value) if isinstance(value, float) else str(value)).quantize(Decimal(1).scaleb(-column.scale))


def demo_rows(connection: sqlite3.Connection, table: LoadTable) -> Iterator[list[tuple[Any, ...]]]:
    names = ", ".join('"' + c.name.replace('"', '""') + '"' for c in table.columns)
    cursor = connection.execute(f'SELECT {names} FROM "{table.name}"')
    while batch := cursor.fetchmany(BATCH_ROWS):
        yield [tuple(convert(c, v) for c, v in zip(table.columns, row, strict=True)) for row in batch]


def fingerprint(folder: Path) -> str:
    """What identifies the demo as loaded: the loader's version, every statement and row count."""
    digest = hashlib.sha256(LOADER_VERSION.encode())
    for file_name in DEMO_FILES:
        connection = sqlite3.connect(f"file:{folder / file_name}?mode=ro", uri=True)
        try:
            for name, sql in connection.execute("SELECT name, sql FROM sqlite_master ORDER BY name"):
                digest.update(f"{file_name}\x1f{name}\x1f{sql}".encode())
                if sql and str(sql).startswith("CREATE TABLE") and _served(name):
                    (count,) = connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()
                    digest.update(str(count).encode())
        finally:
            connection.close()
    return digest.hexdigest()


def server_database(connection_string: str, name: str) -> str:
    """The name SQL Server knows the demo database `name` by, as redhorn's connection string names it."""
    return parse_connection_string(odbc_connection_string(connection_string, Path.cwd())(name))["database"]


def load_demo(folder: Path, connection_string: str) -> None:
    """Load the demo databases in `folder` into the SQL Server of `connection_string`, unless they are there.

    Raises:
        RuntimeError: a database of a demo's name exists that this loader did not make.
    """
    import pyodbc

    master = {**odbc_pairs(connection_string), "database": "master"}
    server = pyodbc.connect(";".join(f"{k}={v}" for k, v in master.items()), autocommit=True)
    try:
        server.execute(
            "DECLARE @result int; EXEC @result = sp_getapplock @Resource = ?, @LockMode = 'Exclusive', "
            "@LockOwner = 'Session', @LockTimeout = ?; IF @result < 0 RAISERROR('no lock', 16, 1)",
            LOCK_NAME,
            LOCK_TIMEOUT_MS,
        )
        expected = fingerprint(folder)
        for file_name in DEMO_FILES:
            name = file_name.removesuffix(".db")
            database = server_database(connection_string, name)
            if _loaded(server, database) == expected:
                continue
            _create(server, database)
            target = pyodbc.connect(odbc_connection_string(connection_string, Path.cwd())(name), autocommit=True)
            try:
                _fill(target, folder / file_name)
                target.execute(f"UPDATE [dbo].{quote(MARKER_TABLE)} SET Fingerprint = ?", expected)
            finally:
                target.close()
    finally:
        server.close()  # and with it the application lock


def _loaded(server: Any, database: str) -> str | None:
    """The fingerprint of the demo `database` holds; None when there is no such database.

    Raises:
        RuntimeError: the database exists but this loader did not make it.
    """
    if server.execute("SELECT DB_ID(?)", database).fetchone()[0] is None:
        return None
    marker = f"{quote(database)}.[dbo].{quote(MARKER_TABLE)}"
    if server.execute("SELECT OBJECT_ID(?)", marker).fetchone()[0] is None:
        raise RuntimeError(
            f"SQL Server already has a database {database!r} that the test loader did not make; it is left alone. "
            f"Name the test databases apart with a placeholder in {VARIABLE}, e.g. Database=redhorn_test_{{database}}"
        )
    row = server.execute(f"SELECT Fingerprint FROM {marker}").fetchone()
    return None if row is None else str(row[0])


def _create(server: Any, database: str) -> None:
    """An empty `database` holding only the marker; one this loader made before is dropped first."""
    if server.execute("SELECT DB_ID(?)", database).fetchone()[0] is not None:
        server.execute(f"ALTER DATABASE {quote(database)} SET SINGLE_USER WITH ROLLBACK IMMEDIATE")
        server.execute(f"DROP DATABASE {quote(database)}")
    server.execute(f"CREATE DATABASE {quote(database)}")
    # Written first, so that a load cut short is known as this loader's and done again.
    server.execute(f"CREATE TABLE {quote(database)}.[dbo].{quote(MARKER_TABLE)} (Fingerprint varchar(64) NOT NULL)")
    server.execute(f"INSERT INTO {quote(database)}.[dbo].{quote(MARKER_TABLE)} VALUES ('loading')")


def _fill(target: Any, demo_file: Path) -> None:
    import pyodbc

    source = sqlite3.connect(f"file:{demo_file}?mode=ro", uri=True)
    try:
        for table in demo_tables(source):
            target.execute(table.create_sql())
            cursor = target.cursor()
            cursor.fast_executemany = True
            insert = table.insert_sql()
            for batch in demo_rows(source, table):
                cursor.setinputsizes([column.input_size for column in table.columns])
                cursor.executemany(insert, batch)
            cursor.close()
        for statement in demo_objects(source):
            target.execute(statement)
    except pyodbc.Error as exc:
        raise RuntimeError(f"Loading {demo_file.name} into SQL Server failed: {exc}") from exc
    finally:
        source.close()


@pytest.fixture(scope="session")
def mssql_demo(demo_folder: Path) -> str:
    """The demo, loaded into the SQL Server of `REDHORN_TEST_MSSQL`; its connection string."""
    text = mssql_connection_string()
    load_demo(demo_folder, text)
    return text


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests outside the read suite are not run against SQL Server (see the module's docstring)."""
    if not MSSQL_ENGINES:
        return
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        engine = callspec.params.get("engine") if callspec is not None else None
        path = Path(str(item.path)).relative_to(config.rootpath).as_posix()
        if engine in MSSQL_ENGINES and not any(
            path == p or (p.endswith("/") and path.startswith(p)) for p in READ_SUITE
        ):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
