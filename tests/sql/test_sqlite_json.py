"""SQLite writes rows as JSON itself; what it writes must equal what msgspec writes from values."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from redhorn.metadata import Column, Table
from redhorn.odata.parser import QueryOptions
from redhorn.query.plan import plan_list
from redhorn.sql import SqliteDialect
from redhorn.sql.compiler import compile_select
from redhorn.sql.sqlite import SqliteDialect as Dialect, SqliteOdbcDialect
from tests.conftest import running_client

HOSTILE = ["}", "{", '"}', "it's", "a\\b", "line\nbreak", "tab\t", "ø æ å 🚀", "", "\u0000x", "}}{{"]


@pytest.mark.parametrize("dialect", [SqliteDialect(), SqliteOdbcDialect()], ids=["as-blob", "as-text"])
@pytest.mark.parametrize("width", [1, 59, 60, 61, 130, 250], ids=lambda w: f"{w}-columns")
def test_wide_rows_are_spliced_exactly(tmp_path: Path, width: int, dialect: SqliteDialect):
    columns = tuple(
        Column(f"c{i}", f"P{i}", "string" if i % 3 else "integer", "text" if i % 3 else "int", nullable=True)
        for i in range(width)
    )
    table = Table("Wide", "Wide", "wides", columns, (columns[0],))
    connection = sqlite3.connect(tmp_path / "wide.db")
    connection.execute(f"CREATE TABLE Wide ({', '.join(f'c{i}' for i in range(width))})")
    rows = []
    for r in range(len(HOSTILE)):
        row = [
            r if i % 3 == 0 else (None if (i + r) % 5 == 0 else HOSTILE[(i + r) % len(HOSTILE)]) for i in range(width)
        ]
        rows.append(row)
        connection.execute(f"INSERT INTO Wide VALUES ({', '.join('?' for _ in range(width))})", row)
    plan = plan_list(table, QueryOptions(), page_size=100, token=None, json_rows=True)
    statement = compile_select(dialect, plan.query)
    fetched = dialect.json_row_bytes(connection.execute(statement.sql, statement.params).fetchall())
    for row, (document, *_order) in zip(rows, fetched, strict=True):
        decoded = json.loads(bytes(document))
        assert list(decoded) == [f"P{i}" for i in range(width)], "every property, in column order"
        assert list(decoded.values()) == row


def test_the_json_expression_is_remembered():
    dialect = Dialect()
    columns = (("OrderNo", "OrdNo"), ("Name", "Nm"))
    assert dialect.json_object(columns) == dialect.json_object(columns)
    sql, params = dialect.json_object(columns)
    assert sql == 'CAST(json_object(?, "OrdNo", ?, "Nm") AS BLOB)' and params == ["OrderNo", "Name"]


def test_through_the_odbc_driver_the_json_stays_text():
    """The SQLite ODBC driver spells a BLOB out in hexadecimal and reads it back: text it hands over as it is."""
    dialect = SqliteOdbcDialect()
    columns = tuple((f"P{i}", f"c{i}") for i in range(130))
    assert dialect.json_object(columns[:2]) == ('json_object(?, "c0", ?, "c1")', ["P0", "P1"])
    wide, params = dialect.json_object(columns)
    assert "BLOB" not in wide and wide.count("json_object(") == 3 and params == [name for name, _ in columns]
    assert Dialect().json_object(columns) == (f"CAST({wide} AS BLOB)", params)


async def test_every_demo_resource_reads_the_same_as_json_and_as_values(settings_factory, demo_folder, monkeypatch):
    async with running_client(settings_factory(), demo_folder) as client:
        resources = [entry["name"] for entry in (await client.get("/api/9999")).json()["value"]]
        as_json = {name: (await client.get(f"/api/9999/{name}?$top=40&$count=true")).json() for name in resources}
    monkeypatch.setattr(SqliteDialect, "renders_json_rows", False)
    async with running_client(settings_factory(), demo_folder) as client:
        for name in resources:
            as_values = (await client.get(f"/api/9999/{name}?$top=40&$count=true")).json()
            assert as_values == as_json[name], name
    assert len(resources) > 25 and sum(len(body["value"]) for body in as_json.values()) > 500
