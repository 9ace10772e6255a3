"""Both dialects emit exactly the SQL we expect, and every T-SQL statement parses with sqlglot."""

from __future__ import annotations

import sqlite3

import pytest
import sqlglot

from redhorn.metadata import Column, Table
from redhorn.odata.binder import bind_filter
from redhorn.odata.parser import QueryOptions, parse_filter, parse_query_options
from redhorn.query.paging import PageToken
from redhorn.query.plan import plan_get, plan_list
from redhorn.sql import Dialect, MssqlDialect, SqliteDialect, Statement
from redhorn.sql.compiler import compile_count, compile_select
from redhorn.sql.select import CountQuery

ORDERS = Table(
    "Ord",
    "Order",
    "orders",
    (
        Column("OrdNo", "OrderNo", "integer", "int"),
        Column("Nm", "Name", "string", "varchar(80)", max_length=80),
        Column("CtrAm", "ContractAmountInCurrency", "decimal", "decimal(28,6)", precision=28, scale=6),
        Column("Seg", "Segment", "string", "varchar(20)", nullable=True),
    ),
    (Column("OrdNo", "OrderNo", "integer", "int"),),
)
LINES = Table(
    "OrdLn",
    "OrderLine",
    "orderlines",
    (Column("OrdNo", "OrderNo", "integer", "int"), Column("LnNo", "LineNo", "integer", "int")),
    (Column("OrdNo", "OrderNo", "integer", "int"), Column("LnNo", "LineNo", "integer", "int")),
)


def assert_tsql(statement: Statement) -> None:
    """The statement is valid T-SQL: sqlglot parses it (placeholders as parameters)."""
    sqlglot.parse_one(statement.sql, read="tsql")


def plan(table: Table, options: QueryOptions, token: PageToken | None = None, page_size: int = 100):
    return plan_list(table, options, page_size=page_size, token=token).query


@pytest.mark.parametrize(
    ("options", "sqlite", "mssql", "params_sqlite", "params_mssql"),
    [
        pytest.param(
            QueryOptions(),
            'SELECT "OrdNo", "Nm", CAST("CtrAm" AS REAL), "Seg" FROM "Ord" ORDER BY "OrdNo" LIMIT ?',
            "SELECT TOP (?) [OrdNo], [Nm], [CtrAm], [Seg] FROM [dbo].[Ord] ORDER BY [OrdNo]",
            (101,),
            (101,),
            id="default-order-is-the-key",
        ),
        pytest.param(
            parse_query_options([("$top", "5"), ("$skip", "10"), ("$orderby", "Name desc")]),
            'SELECT "OrdNo", "Nm", CAST("CtrAm" AS REAL), "Seg" FROM "Ord" '
            'ORDER BY "Nm" DESC, "OrdNo" LIMIT ? OFFSET ?',
            "SELECT [OrdNo], [Nm], [CtrAm], [Seg] FROM [dbo].[Ord] ORDER BY [Nm] DESC, [OrdNo] "
            "OFFSET ? ROWS FETCH NEXT ? ROWS ONLY",
            (5, 10),
            (10, 5),
            id="skip-top-order",
        ),
        pytest.param(
            parse_query_options([("$select", "Name"), ("$top", "3")]),
            'SELECT "Nm", "OrdNo" FROM "Ord" ORDER BY "OrdNo" LIMIT ?',
            "SELECT TOP (?) [Nm], [OrdNo] FROM [dbo].[Ord] ORDER BY [OrdNo]",
            (3,),
            (3,),
            id="select-reads-the-key-too",
        ),
    ],
)
def test_select_statements(options, sqlite, mssql, params_sqlite, params_mssql):
    query = plan(ORDERS, options)
    lite = compile_select(SqliteDialect(), query)
    tsql = compile_select(MssqlDialect(), query)
    assert (lite.sql, lite.params) == (sqlite, params_sqlite)
    assert (tsql.sql, tsql.params) == (mssql, params_mssql)
    assert_tsql(tsql)


def test_keyset_seek_on_a_composite_key_for_both_dialects():
    query = plan(LINES, QueryOptions(), PageToken((7, 3), 100))
    lite = compile_select(SqliteDialect(), query)
    assert lite.sql == (
        'SELECT "OrdNo", "LnNo" FROM "OrdLn" WHERE "OrdNo" >= ? AND (("OrdNo" > ?) OR ("OrdNo" = ? AND "LnNo" > ?)) '
        'ORDER BY "OrdNo", "LnNo" LIMIT ?'
    )
    assert lite.params == (7, 7, 7, 3, 101)
    tsql = compile_select(MssqlDialect(), query)
    assert tsql.sql.startswith("SELECT TOP (?) [OrdNo], [LnNo] FROM [dbo].[OrdLn] WHERE [OrdNo] >= ? AND")
    assert tsql.params == (101, 7, 7, 7, 3)
    assert_tsql(tsql)


def test_seek_on_descending_nullable_column():
    options = parse_query_options([("$orderby", "Segment desc")])
    query = plan(ORDERS, options, PageToken(("b", 4), 10))
    lite = compile_select(SqliteDialect(), query)
    assert 'WHERE ((("Seg" < ? OR "Seg" IS NULL)) OR ("Seg" = ? AND "OrdNo" > ?))' in lite.sql
    assert lite.params[:3] == ("b", "b", 4)
    # After a NULL in a descending order only NULLs with a larger key follow.
    query = plan(ORDERS, options, PageToken((None, 4), 10))
    lite = compile_select(SqliteDialect(), query)
    assert 'WHERE (("Seg" IS NULL AND "OrdNo" > ?))' in lite.sql
    assert_tsql(compile_select(MssqlDialect(), query))


def test_get_by_key_and_count():
    query = plan_get(LINES, ["10", "2"], None)
    lite = compile_select(SqliteDialect(), query)
    assert lite == Statement('SELECT "OrdNo", "LnNo" FROM "OrdLn" WHERE "OrdNo" = ? AND "LnNo" = ? LIMIT ?', (10, 2, 1))
    tsql = compile_select(MssqlDialect(), query)
    assert tsql == Statement(
        "SELECT TOP (?) [OrdNo], [LnNo] FROM [dbo].[OrdLn] WHERE [OrdNo] = ? AND [LnNo] = ?", (1, 10, 2)
    )
    assert_tsql(tsql)
    where = bind_filter(parse_filter("Name eq 'x'"), ORDERS)
    assert compile_count(SqliteDialect(), CountQuery(ORDERS, where)) == Statement(
        'SELECT COUNT(*) FROM "Ord" WHERE "Nm" = ?', ("x",)
    )
    count = compile_count(MssqlDialect(), CountQuery(ORDERS, where))
    assert count == Statement("SELECT COUNT_BIG(*) FROM [dbo].[Ord] WHERE [Nm] = ?", ("x",))
    assert_tsql(count)


@pytest.mark.parametrize(
    ("text", "sql", "params"),
    [
        pytest.param("Name eq 'a'", '"Nm" = ?', ("a",), id="eq"),
        pytest.param("5 lt OrderNo", '"OrdNo" > ?', (5,), id="mirrored"),
        pytest.param("Name eq null", '"Nm" IS NULL', (), id="is-null"),
        pytest.param("Segment ne 'x'", '("Seg" IS NULL OR "Seg" <> ?)', ("x",), id="ne-nullable"),
        pytest.param("Segment eq 'x'", '("Seg" IS NOT NULL AND "Seg" = ?)', ("x",), id="eq-nullable"),
        pytest.param(
            "contains(Name,'50%_off')", "\"Nm\" LIKE ? ESCAPE '\\'", ("%50\\%\\_off%",), id="contains-escapes"
        ),
        pytest.param("startswith(Name,'a\\b')", "\"Nm\" LIKE ? ESCAPE '\\'", ("a\\\\b%",), id="escape-the-escape"),
        pytest.param("tolower(Name) eq 'x'", 'LOWER("Nm") = ?', ("x",), id="tolower"),
        pytest.param("length(Name) gt 3", 'LENGTH("Nm") > ?', (3,), id="length"),
        pytest.param(
            "OrderNo in (1, 2) and not (Name eq 'x' or Name eq 'y')",
            '("OrdNo" IN (?, ?) AND NOT (("Nm" = ? OR "Nm" = ?)))',
            (1, 2, "x", "y"),
            id="in-not-or",
        ),
        pytest.param("Segment in ('a', null)", '("Seg" IN (?) OR "Seg" IS NULL)', ("a",), id="in-with-null"),
    ],
)
def test_filter_compilation(text, sql, params):
    where = bind_filter(parse_filter(text), ORDERS)
    options = QueryOptions(filter=where, filter_text=text)
    lite = compile_select(SqliteDialect(), plan(ORDERS, options))
    assert f"WHERE {sql} ORDER BY" in lite.sql
    assert lite.params[: len(params)] == params
    assert_tsql(compile_select(MssqlDialect(), plan(ORDERS, options)))


def test_mssql_specifics():
    dialect = MssqlDialect()
    assert dialect.quote_ident("we]ird") == "[we]]ird]"
    assert SqliteDialect().quote_ident('we"ird') == '"we""ird"'
    where = bind_filter(parse_filter("length(Name) eq 2 and endswith(Name, Segment)"), ORDERS)
    statement = compile_select(dialect, plan(ORDERS, QueryOptions(filter=where)))
    assert "(LEN([Nm] + N'x') - 1) = ?" in statement.sql
    assert "'%' + REPLACE(" in statement.sql
    assert_tsql(statement)


def test_count_of_a_table_without_a_condition_counts_every_row():
    assert compile_count(SqliteDialect(), CountQuery(ORDERS)) == Statement('SELECT COUNT(*) FROM "Ord"')


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [(Dialect(), "a || b || c"), (SqliteDialect(), "a || b || c"), (MssqlDialect(), "a + b + c")],
    ids=["ansi", "sqlite", "mssql"],
)
def test_concatenation_is_a_dialect_hook(dialect: Dialect, sql: str):
    assert dialect.concat(("a", "b", "c")) == sql


def test_a_pattern_from_a_column_is_concatenated_in_each_dialect():
    where = bind_filter(parse_filter("contains(Name, Segment)"), ORDERS)
    query = plan(ORDERS, QueryOptions(filter=where))
    lite = compile_select(SqliteDialect(), query).sql
    assert "LIKE '%' || REPLACE(" in lite and "|| '%' ESCAPE" in lite
    tsql = compile_select(MssqlDialect(), query).sql
    assert "LIKE '%' + REPLACE(" in tsql and "+ '%' ESCAPE" in tsql and "||" not in tsql


def test_the_ansi_dialect_has_no_catalog():
    with pytest.raises(NotImplementedError):
        Dialect().catalog_statements()


def test_sqlite_catalog_statements_read_a_database():
    catalog, version = SqliteDialect().catalog_statements()
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE Ord (OrdNo INTEGER NOT NULL PRIMARY KEY, Nm VARCHAR(80), Am DECIMAL(28,6))")
    connection.execute("CREATE VIEW OrdView AS SELECT OrdNo FROM Ord")
    rows = connection.execute(catalog.sql, catalog.params).fetchall()
    assert rows == [
        ("Ord", 0, "OrdNo", "INTEGER", None, None, None, 0, 1),
        ("Ord", 0, "Nm", "VARCHAR(80)", None, None, None, 1, 0),
        ("Ord", 0, "Am", "DECIMAL(28,6)", None, None, None, 1, 0),
        ("OrdView", 1, "OrdNo", "INTEGER", None, None, None, 1, 0),
    ]
    before = connection.execute(version.sql).fetchall()
    connection.execute("ALTER TABLE Ord ADD COLUMN Seg TEXT")
    assert connection.execute(version.sql).fetchall() != before
    connection.close()


def test_mssql_catalog_statements_parse_as_tsql():
    for statement in MssqlDialect().catalog_statements():
        assert_tsql(statement)
