"""The `$filter` functions and arithmetic in both dialects: the SQL each writes, the rows SQLite
selects with it (OData's null semantics included), and T-SQL that sqlglot parses."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
import sqlglot

from redhorn.metadata import Column, Table
from redhorn.odata.binder import bind_filter
from redhorn.odata.parser import parse_filter
from redhorn.sql import Dialect, MssqlDialect, SqliteDialect
from redhorn.sql.compiler import compile_select
from redhorn.sql.select import OrderColumn, SelectQuery
from redhorn.sql.statement import Statement

ID = Column("Id", "Id", "integer", "int")
FX = Table(
    "Fx",
    "Fx",
    "fx",
    (
        ID,
        Column("Dt", "OrderDate", "integer", "int", domain="date"),
        Column("Tm", "OrderTime", "integer", "int", domain="time"),
        Column("Qty", "Quantity", "integer", "int", nullable=True),
        Column("Amt", "Amount", "decimal", "decimal(10,2)", precision=10, scale=2),
        Column("Nm", "Name", "string", "varchar(20)", nullable=True),
    ),
    (ID,),
)
ROWS = [
    (1, 20260115, 1345, 3, 5.5, "abc"),
    (2, 0, 0, None, -2.25, None),
    (3, 20251231, 2359, -7, 10, " pad "),
    (4, 20260301, 900, 0, 5.0, ""),
]


@pytest.fixture(scope="module")
def fx() -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:")
    connection.execute(
        "CREATE TABLE Fx (Id INTEGER PRIMARY KEY, Dt INT NOT NULL, Tm INT NOT NULL, Qty INT, "
        "Amt DECIMAL(10,2) NOT NULL, Nm VARCHAR(20))"
    )
    connection.executemany("INSERT INTO Fx VALUES (?, ?, ?, ?, ?, ?)", ROWS)
    yield connection
    connection.close()


def statement(dialect: Dialect, text: str) -> Statement:
    where = bind_filter(parse_filter(text), FX)
    return compile_select(dialect, SelectQuery(FX, (ID,), (ID,), where=where, order=(OrderColumn(ID),)))


def where_of(dialect: Dialect, text: str) -> str:
    sql = statement(dialect, text).sql
    return sql[sql.index(" WHERE ") + 7 : sql.index(" ORDER BY")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("OrderDate ge 2026-01-01", [1, 4], id="date-literal"),
        pytest.param("OrderDate ge 20260101", [1, 4], id="integer-on-date"),
        pytest.param("OrderTime eq 13:45", [1], id="time-literal"),
        pytest.param("OrderDate eq 2026-01-15T00:00:00Z", [1], id="midnight-datetimeoffset"),
        pytest.param("year(OrderDate) eq 2026", [1, 4], id="year"),
        pytest.param("year(OrderDate) eq null", [2], id="year-of-0-is-null"),
        pytest.param("not (year(OrderDate) eq 2026)", [2, 3], id="not-year"),
        pytest.param("month(OrderDate) eq 12", [3], id="month"),
        pytest.param("day(OrderDate) ge 15", [1, 3], id="day"),
        pytest.param("hour(OrderTime) eq 23", [3], id="hour"),
        pytest.param("minute(OrderTime) eq 45", [1], id="minute"),
        pytest.param("second(OrderTime) eq 0", [1, 2, 3, 4], id="second"),
        pytest.param("substring(Name, 1) eq 'bc'", [1], id="substring-2"),
        pytest.param("substring(Name, 1, 1) eq 'b'", [1], id="substring-3"),
        pytest.param("substring(Name, 9) eq ''", [1, 3, 4], id="substring-past-end"),
        pytest.param("indexof(Name, 'c') eq 2", [1], id="indexof"),
        pytest.param("indexof(Name, 'zz') eq -1", [1, 3, 4], id="indexof-absent"),
        pytest.param("indexof(Name, '') eq 0", [1, 3, 4], id="indexof-empty"),
        pytest.param("concat(Name, 'x') eq 'abcx'", [1], id="concat"),
        pytest.param("concat(Name, 'x') eq null", [2], id="concat-null"),
        pytest.param("length(trim(Name)) eq 3", [1, 3], id="length-trim"),
        pytest.param("toupper(Name) eq 'ABC' or tolower(Name) eq ' pad '", [1, 3], id="case"),
        pytest.param("round(Amount) eq 6", [1], id="round-half-away"),
        pytest.param("round(Amount) eq -2", [2], id="round-negative"),
        pytest.param("floor(Amount) eq -3", [2], id="floor"),
        pytest.param("ceiling(Amount) eq 6", [1], id="ceiling"),
        pytest.param("floor(Quantity) eq -7", [3], id="floor-integer"),
        pytest.param("Quantity add 1 eq 4", [1], id="add"),
        pytest.param("Quantity sub 1 lt 0", [3, 4], id="sub"),
        pytest.param("Quantity mul 2 add 1 eq 7", [1], id="precedence"),
        pytest.param("Quantity div 2 eq -3", [3], id="integer-division-truncates"),
        pytest.param("Quantity mod 2 eq -1", [3], id="mod-sign-of-dividend"),
        pytest.param("Amount div 2 eq 2.75", [1], id="decimal-division"),
        pytest.param("Amount div 2 eq 2.5", [4], id="decimal-stored-as-integer"),
        pytest.param("Amount mod 2 eq 1.5", [1], id="decimal-mod"),
        pytest.param("Quantity div 0 eq null", [1, 2, 3, 4], id="division-by-zero-is-null"),
        pytest.param("3 div Quantity eq null", [2, 4], id="zero-divisor-row-is-null"),
        pytest.param("not (3 div Quantity gt 0)", [2, 3, 4], id="null-under-not"),
        pytest.param("-Quantity eq 7", [3], id="negate"),
        pytest.param("Quantity add 1 ne 4", [2, 3, 4], id="ne-null-row-differs"),
        pytest.param("Quantity add Quantity eq Quantity mul 2", [1, 2, 3, 4], id="two-null-sides-eq"),
        pytest.param("not (Quantity add Quantity eq Quantity mul 2)", [], id="two-null-sides-under-not"),
        pytest.param("OrderDate le now() and OrderTime le now() or OrderTime gt now()", [1, 2, 3, 4], id="now"),
        pytest.param("contains(concat(Name, 'x'), 'cx')", [1], id="predicate-of-function"),
        pytest.param("substring(Name, 1) in ('bc', 'pad ')", [1, 3], id="in-on-function"),
        pytest.param("(Quantity gt 0) eq true", [1], id="condition-as-value"),
    ],
)
def test_rows_selected_on_sqlite_and_tsql_parses(fx: sqlite3.Connection, text: str, expected: list[int]):
    lite = statement(SqliteDialect(), text)
    assert [row[0] for row in fx.execute(lite.sql, lite.params)] == expected, lite.sql
    tsql = statement(MssqlDialect(), text)
    sqlglot.parse_one(tsql.sql, read="tsql")
    assert tsql.sql.count("?") == len(tsql.params) and lite.sql.count("?") == len(lite.params)


@pytest.mark.parametrize(
    ("text", "sqlite", "mssql"),
    [
        pytest.param("OrderDate ge 2026-01-01", '"Dt" >= ?', "[Dt] >= ?", id="date-compares-integers"),
        pytest.param(
            "substring(Name, 1, 2) eq 'x'",
            '(SUBSTR("Nm", ? + 1, ?) IS NOT NULL AND SUBSTR("Nm", ? + 1, ?) = ?)',
            "(SUBSTRING([Nm], ? + 1, ?) IS NOT NULL AND SUBSTRING([Nm], ? + 1, ?) = ?)",
            id="substring",
        ),
        pytest.param(
            "substring(Name, 1) eq 'x'",
            '(SUBSTR("Nm", ? + 1) IS NOT NULL AND SUBSTR("Nm", ? + 1) = ?)',
            "(SUBSTRING([Nm], ? + 1, 2147483647) IS NOT NULL AND SUBSTRING([Nm], ? + 1, 2147483647) = ?)",
            id="substring-to-end",
        ),
        pytest.param(
            "indexof(Name, 'a') eq 0",
            '((INSTR("Nm", ?) - 1) IS NOT NULL AND (INSTR("Nm", ?) - 1) = ?)',
            "((CASE WHEN LEN(? + N'x') = 1 THEN (CASE WHEN [Nm] IS NULL THEN NULL ELSE 0 END) "
            "ELSE CHARINDEX(?, [Nm]) - 1 END) IS NOT NULL AND "
            "(CASE WHEN LEN(? + N'x') = 1 THEN (CASE WHEN [Nm] IS NULL THEN NULL ELSE 0 END) "
            "ELSE CHARINDEX(?, [Nm]) - 1 END) = ?)",
            id="indexof",
        ),
        pytest.param(
            "length(Name) eq 2",
            '(LENGTH("Nm") IS NOT NULL AND LENGTH("Nm") = ?)',
            "((LEN([Nm] + N'x') - 1) IS NOT NULL AND (LEN([Nm] + N'x') - 1) = ?)",
            id="length-counts-trailing-blanks",
        ),
        pytest.param(
            "concat(Name, 'x') eq 'y'",
            '("Nm" || ? IS NOT NULL AND "Nm" || ? = ?)',
            "([Nm] + ? IS NOT NULL AND [Nm] + ? = ?)",
            id="concat",
        ),
        pytest.param(
            "floor(Amount) eq 1",
            '(CAST("Amt" AS INTEGER) - (CAST("Amt" AS INTEGER) > "Amt")) = ?',
            "FLOOR([Amt]) = ?",
            id="floor",
        ),
        pytest.param(
            "ceiling(Amount) eq 1",
            '(CAST("Amt" AS INTEGER) + (CAST("Amt" AS INTEGER) < "Amt")) = ?',
            "CEILING([Amt]) = ?",
            id="ceiling",
        ),
        pytest.param("round(Amount) eq 1", 'CAST(ROUND("Amt") AS INTEGER) = ?', "ROUND([Amt], 0) = ?", id="round"),
        pytest.param(
            "Id div 2 eq 1",
            '("Id" / NULLIF(?, 0)) = ?',
            "([Id] / NULLIF(?, 0)) = ?",
            id="integer-div-by-a-literal-needs-no-guard",
        ),
        pytest.param(
            "Amount mod 2 eq 1",
            '(CAST("Amt" AS REAL) - ? * CAST(CAST("Amt" AS REAL) / NULLIF(?, 0) AS INTEGER)) = ?',
            "([Amt] % NULLIF(?, 0)) = ?",
            id="decimal-mod",
        ),
        pytest.param(
            "year(OrderDate) eq 2026",
            '((CASE WHEN "Dt" = 0 THEN NULL ELSE "Dt" / 10000 END) IS NOT NULL AND '
            '(CASE WHEN "Dt" = 0 THEN NULL ELSE "Dt" / 10000 END) = ?)',
            "((CASE WHEN [Dt] = 0 THEN NULL ELSE [Dt] / 10000 END) IS NOT NULL AND "
            "(CASE WHEN [Dt] = 0 THEN NULL ELSE [Dt] / 10000 END) = ?)",
            id="year",
        ),
        pytest.param(
            "OrderDate eq now()",
            "\"Dt\" = CAST(strftime('%Y%m%d', 'now', 'localtime') AS INTEGER)",
            "[Dt] = CAST(CONVERT(char(8), GETDATE(), 112) AS int)",
            id="now-date",
        ),
        pytest.param(
            "OrderTime lt now()",
            "\"Tm\" < CAST(strftime('%H%M', 'now', 'localtime') AS INTEGER)",
            "[Tm] < (DATEPART(hour, GETDATE()) * 100 + DATEPART(minute, GETDATE()))",
            id="now-time",
        ),
    ],
)
def test_each_dialect_writes_its_own_sql(text: str, sqlite: str, mssql: str):
    assert where_of(SqliteDialect(), text) == sqlite
    assert where_of(MssqlDialect(), text) == mssql
    for dialect in (SqliteDialect(), MssqlDialect()):
        compiled = statement(dialect, text)
        assert compiled.sql.count("?") == len(compiled.params), "a repeated argument repeats its parameters"
    sqlglot.parse_one(statement(MssqlDialect(), text).sql, read="tsql")


def test_a_repeated_argument_repeats_its_parameters_in_order(fx: sqlite3.Connection):
    lite = statement(SqliteDialect(), "substring(Name, 1, 2) eq 'bc'")
    assert lite.params[:3] == (1, 2, 1), "the guard's and the comparison's parameters, each in text order"
    assert [row[0] for row in fx.execute(lite.sql, lite.params)] == [1]


def test_values_nested_to_the_limit_run_on_sqlite(fx: sqlite3.Connection):
    # MAX_VALUE_DEPTH (16) nested arithmetic and calls: SQLite's parser stack holds them.
    text = " add ".join(["Quantity"] * 16) + " gt 0 and length(" + "trim(" * 7 + "Name" + ")" * 8 + " ge 0"
    lite = statement(SqliteDialect(), text)
    assert [row[0] for row in fx.execute(lite.sql, lite.params)] == [1]
    sqlglot.parse_one(statement(MssqlDialect(), text).sql, read="tsql")
