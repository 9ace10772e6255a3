"""The loader that copies the demo into a real SQL Server for `REDHORN_TEST_MSSQL` (tests/mssql.py).

No SQL Server runs here: what it would send is checked instead. Every statement parses as T-SQL,
every table fits SQL Server's row and key limits, every value is converted to its column's type,
and without the variable the suite is what it always was.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from redhorn.tools.demo.build import DEMO_FILES
from tests import mssql
from tests.conftest import ENGINES, connection_string, settings_document

# SQL Server's fixed storage per type (bytes), its in-row limit, and its clustered key limit.
FIXED_BYTES = {"int": 4, "smallint": 2, "tinyint": 1, "bigint": 8, "float": 8}
ROW_LIMIT = 8060
KEY_LIMIT = 900


def _decimal_bytes(precision: int) -> int:
    return 5 if precision <= 9 else 9 if precision <= 19 else 13 if precision <= 28 else 17


def _column_bytes(column: mssql.LoadColumn) -> tuple[int, int]:
    """(fixed bytes in the row, largest bytes of a value) of a column."""
    if column.sql_type.startswith("decimal"):
        size = _decimal_bytes(column.input_size[1])
        return size, size
    if column.sql_type in FIXED_BYTES:
        return FIXED_BYTES[column.sql_type], FIXED_BYTES[column.sql_type]
    length = column.sql_type.split("(")[1].rstrip(")")
    return 2, 8000 if length == "max" else 2 * int(length)


@pytest.fixture(scope="module")
def tables(demo_folder: Path) -> dict[str, list[mssql.LoadTable]]:
    found = {}
    for name in DEMO_FILES:
        connection = sqlite3.connect(demo_folder / name)
        try:
            found[name] = mssql.demo_tables(connection)
        finally:
            connection.close()
    return found


def test_every_demo_table_is_created_in_tsql_within_sql_servers_limits(tables):
    count = 0
    for database, found in tables.items():
        for table in found:
            count += 1
            create = sqlglot.parse_one(table.create_sql(), read="tsql")
            assert isinstance(create, exp.Create), table.name
            insert = table.insert_sql()
            sqlglot.parse_one(insert, read="tsql")
            assert insert.count("?") == len(table.columns) <= 1024, "SQL Server's columns per table"
            fixed = sum(_column_bytes(column)[0] for column in table.columns)
            assert fixed <= ROW_LIMIT, (database, table.name, fixed)
            key = [column for column in table.columns if column.key_position]
            assert sum(_column_bytes(column)[1] for column in key) <= KEY_LIMIT, (database, table.name)
            assert all(not column.nullable for column in key), "a primary key's columns are NOT NULL"
    assert count > 300


# The range of each integer type: a demo value outside it would fail the insert.
INTEGER_RANGES = {"tinyint": (0, 255), "smallint": (-(2**15), 2**15 - 1), "int": (-(2**31), 2**31 - 1)}


def test_every_demo_value_fits_its_sql_server_column(demo_folder: Path, tables):
    """SQLite keeps any value in any column; SQL Server refuses a text longer than its nvarchar(n)
    and an integer outside its type: the demo's values all fit."""
    checked = 0
    for database, found in tables.items():
        connection = sqlite3.connect(demo_folder / database)
        try:
            for table in found:
                probes: list[tuple[mssql.LoadColumn, str]] = []
                for column in table.columns:
                    quoted = '"' + column.name + '"'
                    if column.sql_type in INTEGER_RANGES:
                        probes += [(column, f"min({quoted})"), (column, f"max({quoted})")]
                    elif column.sql_type.startswith("nvarchar"):
                        probes.append((column, f"max(length({quoted}))"))
                if not probes:
                    continue
                values = connection.execute(
                    f'SELECT {", ".join(sql for _, sql in probes)} FROM "{table.name}"'
                ).fetchone()
                for (column, sql), value in zip(probes, values, strict=True):
                    if value is None:
                        continue
                    checked += 1
                    if column.sql_type in INTEGER_RANGES:
                        low, high = INTEGER_RANGES[column.sql_type]
                        assert isinstance(value, int) and low <= value <= high, (table.name, column.name, value)
                    else:
                        assert value <= column.input_size[1], (table.name, column.name, sql, value)
        finally:
            connection.close()
    assert checked > 5000


def test_the_types_are_the_catalogs():
    cases = {
        "INT": "int",
        "INTEGER": "int",
        "SMALLINT": "smallint",
        "TINYINT": "tinyint",
        "BIGINT": "bigint",
        "DECIMAL(28,6)": "decimal(28, 6)",
        "DECIMAL(18,2)": "decimal(18, 2)",
        "DECIMAL": "decimal(28, 6)",
        "VARCHAR(80)": "nvarchar(80)",
        "VARCHAR": "nvarchar(4000)",
        "VARBINARY": "varbinary(max)",
    }
    for declared, expected in cases.items():
        assert mssql.column_of("C", declared, False, 0).sql_type == expected, declared
    assert mssql.column_of("C", "VARCHAR", False, 1).sql_type == "nvarchar(200)", "a key column fits an index key"


def test_values_take_their_columns_types():
    amount = mssql.column_of("Am", "DECIMAL(28,6)", False, 0)
    assert mssql.convert(amount, 12.5) == Decimal("12.500000")
    assert str(mssql.convert(amount, 0.30000000000000004)) == "0.300000"
    assert mssql.convert(amount, 7) == Decimal("7.000000")
    assert mssql.convert(amount, None) is None
    text = mssql.column_of("Nm", "VARCHAR(80)", False, 0)
    assert mssql.convert(text, "Sjørør  ") == "Sjørør  "


def test_every_row_of_a_table_is_read_for_loading(demo_folder: Path, tables):
    connection = sqlite3.connect(demo_folder / "F9999.db")
    try:
        lines = next(table for table in tables["F9999.db"] if table.name == "OrdLn")
        batches = list(mssql.demo_rows(connection, lines))
        (count,) = connection.execute('SELECT count(*) FROM "OrdLn"').fetchone()
        assert sum(len(batch) for batch in batches) == count > mssql.BATCH_ROWS
        assert all(len(row) == len(lines.columns) for batch in batches for row in batch)
        decimals = [i for i, column in enumerate(lines.columns) if column.scale is not None]
        assert decimals and all(isinstance(batches[0][0][i], Decimal) for i in decimals)
        objects = mssql.demo_objects(connection)
    finally:
        connection.close()
    assert any(statement.startswith("CREATE VIEW") for statement in objects)
    for statement in objects:
        sqlglot.parse_one(statement, read="tsql")


def test_the_fingerprint_names_the_demo(demo_folder: Path, tmp_path: Path):
    assert mssql.fingerprint(demo_folder) == mssql.fingerprint(demo_folder)
    copy = tmp_path / "demo"
    copy.mkdir()
    for name in DEMO_FILES:
        source = sqlite3.connect(demo_folder / name)
        target = sqlite3.connect(copy / name)
        source.backup(target)
        source.close()
        target.close()
    assert mssql.fingerprint(copy) == mssql.fingerprint(demo_folder)
    with sqlite3.connect(copy / "F9999.db") as connection:
        connection.execute('DELETE FROM "Ord" WHERE "OrdNo" = (SELECT min("OrdNo") FROM "Ord")')
    connection.close()
    assert mssql.fingerprint(copy) != mssql.fingerprint(demo_folder)


def test_the_databases_are_named_as_redhorn_names_them():
    placeholder = "Driver={ODBC Driver 18 for SQL Server};Server=sql01;Database=redhorn_test_{database}"
    assert mssql.server_database(placeholder, "F9999") == "redhorn_test_F9999"
    plain = "Driver={ODBC Driver 18 for SQL Server};Server=sql01;UID=u;PWD=p"
    assert mssql.server_database(plain, "Catalog") == "Catalog"


def test_without_the_variable_nothing_changes(monkeypatch, tmp_path: Path):
    if mssql.MSSQL_ENGINES:
        pytest.skip("REDHORN_TEST_MSSQL is set: the suite runs against SQL Server as well")
    assert ENGINES == ["sqlite", "odbc"]
    assert not mssql.is_mssql("sqlite") and not mssql.is_mssql("odbc")
    assert connection_string(tmp_path, "odbc").startswith("Driver=SQLite3;")
    assert "JsonFromDatabase" not in settings_document(tmp_path, "sqlite")["Query"]


def test_the_engines_and_their_settings(monkeypatch, tmp_path: Path):
    text = "Driver={ODBC Driver 18 for SQL Server};Server=sql01;Database=t_{database}"
    monkeypatch.setenv(mssql.VARIABLE, text)
    monkeypatch.setattr(mssql, "MSSQL_ENGINES", ("mssql", "mssql-json"))
    assert connection_string(tmp_path, "mssql") == text
    assert settings_document(tmp_path, "mssql-json")["Query"] == {"MaxPageSize": 1000, "JsonFromDatabase": True}
    assert "JsonFromDatabase" not in settings_document(tmp_path, "mssql")["Query"]
    assert settings_document(tmp_path, "mssql-json", Query={"MaxPageSize": 5})["Query"]["MaxPageSize"] == 5
