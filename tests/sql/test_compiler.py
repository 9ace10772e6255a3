"""The compiler's SQL keeps OData's two-valued logic: run against SQLite, each filter selects the rows OData says.

The statements are executed on a small in-memory table holding every combination of NULL and
non-NULL that matters, so a test fails on the rows a filter returns, not only on its text.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any, cast

import pytest
import sqlglot

from redhorn.metadata import Column, Table
from redhorn.odata.ast import BoolOp, Call, Compare, In, Literal, Property
from redhorn.odata.binder import bind_filter
from redhorn.odata.parser import parse_filter
from redhorn.sql import MssqlDialect, SqliteDialect
from redhorn.sql.compiler import _nullable, compile_condition, compile_count, compile_select
from redhorn.sql.select import CountQuery, OrderColumn, SelectQuery

NUMBER = Column("No", "Number", "integer", "int")
ITEMS = Table(
    "Itm",
    "Item",
    "items",
    (
        NUMBER,
        Column("Nm", "Name", "string", "varchar(20)"),
        Column("Seg", "Segment", "string", "varchar(20)", nullable=True),
        Column("Alt", "AltSegment", "string", "varchar(20)", nullable=True),
        Column("Act", "Active", "boolean", "bit"),
        Column("Opt", "Optional", "boolean", "bit", nullable=True),
    ),
    (NUMBER,),
)
# (No, Nm, Seg, Alt, Act, Opt): every pairing of NULL and non-NULL for Seg/Alt, and for Opt.
ROWS = [
    (1, "a", "x", "x", 1, 1),
    (2, "b", "x", "y", 0, 0),
    (3, "a", None, "y", 1, None),
    (4, "c", "x", None, 0, 1),
    (5, "a", None, None, 1, 0),
]


@pytest.fixture(scope="module")
def items() -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:")
    connection.execute(
        'CREATE TABLE "Itm" ("No" INTEGER PRIMARY KEY, "Nm" TEXT, "Seg" TEXT, "Alt" TEXT, "Act" INT, "Opt" INT)'
    )
    connection.executemany('INSERT INTO "Itm" VALUES (?, ?, ?, ?, ?, ?)', ROWS)
    yield connection
    connection.close()


def query(text: str) -> SelectQuery:
    where = bind_filter(parse_filter(text), ITEMS)
    return SelectQuery(ITEMS, (NUMBER,), (NUMBER,), where=where, order=(OrderColumn(NUMBER),))


def selected(connection: sqlite3.Connection, text: str) -> list[int]:
    statement = compile_select(SqliteDialect(), query(text))
    return [row[0] for row in connection.execute(statement.sql, statement.params)]


def assert_tsql(text: str) -> None:
    sqlglot.parse_one(compile_select(MssqlDialect(), query(text)).sql, read="tsql")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Segment eq AltSegment", [1, 5], id="eq-null-equals-null"),
        pytest.param("Segment ne AltSegment", [2, 3, 4], id="ne-one-null-side-differs"),
        pytest.param("not (Segment eq AltSegment)", [2, 3, 4], id="not-eq-is-ne"),
        pytest.param("not (Segment ne AltSegment)", [1, 5], id="not-ne-is-eq"),
        pytest.param("Segment gt AltSegment", [], id="gt-never-holds-with-a-null"),
        pytest.param("Segment lt AltSegment", [2], id="lt-on-values-only"),
    ],
)
def test_comparing_two_nullable_columns_treats_null_as_a_value(items, text: str, expected: list[int]):
    assert selected(items, text) == expected
    assert_tsql(text)


def test_two_nullable_sides_are_guarded_in_the_sql_text():
    eq = compile_select(SqliteDialect(), query("Segment eq AltSegment")).sql
    assert '(("Seg" IS NOT NULL AND "Alt" IS NOT NULL AND "Seg" = "Alt") OR ("Seg" IS NULL AND "Alt" IS NULL))' in eq
    ne = compile_select(SqliteDialect(), query("Segment ne AltSegment")).sql
    assert '("Seg" IS NULL AND "Alt" IS NOT NULL) OR ("Seg" IS NOT NULL AND "Alt" IS NULL)' in ne


@pytest.mark.parametrize(
    ("text", "sql", "expected"),
    [
        pytest.param("Active", '"Act" <> 0', [1, 3, 5], id="boolean-column"),
        pytest.param("not Active", 'NOT ("Act" <> 0)', [2, 4], id="not-boolean-column"),
        pytest.param("Optional", '("Opt" IS NOT NULL AND "Opt" <> 0)', [1, 4], id="nullable-boolean-column"),
        pytest.param("not Optional", 'NOT (("Opt" IS NOT NULL AND "Opt" <> 0))', [2, 3, 5], id="not-nullable"),
        pytest.param("true", "1 = 1", [1, 2, 3, 4, 5], id="true"),
        pytest.param("false", "1 = 0", [], id="false"),
        pytest.param("Active and false", '("Act" <> 0 AND 1 = 0)', [], id="false-in-and"),
    ],
)
def test_a_boolean_property_or_literal_is_a_condition_on_its_own(items, text: str, sql: str, expected: list[int]):
    statement = compile_select(SqliteDialect(), query(text))
    assert f"WHERE {sql} ORDER BY" in statement.sql
    assert selected(items, text) == expected
    assert_tsql(text)


def test_a_condition_compared_with_a_boolean_becomes_one_or_zero(items):
    statement = compile_select(SqliteDialect(), query("(Name eq 'a') eq false"))
    assert 'WHERE CASE WHEN "Nm" = ? THEN 1 ELSE 0 END = ? ORDER BY' in statement.sql
    assert statement.params == ("a", 0)
    assert selected(items, "(Name eq 'a') eq false") == [2, 4]
    assert selected(items, "(Segment in ('x') or Active) eq true") == [1, 2, 3, 4, 5]
    assert selected(items, "(Segment eq 'x') eq Active") == [1], "a NULL segment compares as false, not NULL"
    assert selected(items, "(Segment eq 'x') ne Active") == [2, 3, 4, 5]
    assert_tsql("(Name eq 'a') eq false")


def test_boolean_literals_are_bound_as_integers_not_python_booleans():
    statement = compile_select(SqliteDialect(), query("Active eq true and Optional ne false"))
    booleans = statement.params[:2]
    assert booleans == (1, 0)
    assert [type(value) for value in booleans] == [int, int]


def test_in_on_a_nullable_column_leaves_out_null_unless_null_is_listed(items):
    statement = compile_select(SqliteDialect(), query("Segment in ('x', 'y')"))
    assert 'WHERE ("Seg" IS NOT NULL AND "Seg" IN (?, ?)) ORDER BY' in statement.sql
    assert selected(items, "Segment in ('x', 'y')") == [1, 2, 4]
    assert selected(items, "not (Segment in ('x', 'y'))") == [3, 5], "under not, the NULL rows are selected"


def test_in_listing_only_null_is_an_is_null_test(items):
    statement = compile_select(SqliteDialect(), query("Segment in (null)"))
    assert 'WHERE "Seg" IS NULL ORDER BY' in statement.sql
    assert statement.params == (), "no value to bind: NULL is tested, not compared"
    assert selected(items, "Segment in (null)") == [3, 5]


def test_tsql_skips_rows_only_under_an_order_so_an_unordered_page_orders_by_nothing():
    unordered = SelectQuery(ITEMS, (NUMBER,), (NUMBER,), limit=10, offset=20)
    tsql = compile_select(MssqlDialect(), unordered)
    assert tsql.sql == "SELECT [No] FROM [dbo].[Itm] ORDER BY (SELECT NULL) OFFSET ? ROWS FETCH NEXT ? ROWS ONLY"
    assert tsql.params == (20, 10)
    sqlglot.parse_one(tsql.sql, read="tsql")
    lite = compile_select(SqliteDialect(), unordered)
    assert lite.sql == 'SELECT "No" FROM "Itm" LIMIT ? OFFSET ?', "SQLite pages without an ORDER BY"
    first_page = compile_select(MssqlDialect(), SelectQuery(ITEMS, (NUMBER,), (NUMBER,), limit=10))
    assert "ORDER BY" not in first_page.sql, "TOP needs no order"


def test_a_count_keeps_the_null_logic_of_its_condition(items):
    where = bind_filter(parse_filter("Segment ne AltSegment"), ITEMS)
    statement = compile_count(SqliteDialect(), CountQuery(ITEMS, where))
    assert items.execute(statement.sql, statement.params).fetchone() == (3,)


class Unknown:
    """A node type no walker knows: what a new node type would be until every walker handles it."""

    position = 0


@pytest.mark.parametrize(
    "node",
    [
        pytest.param(Unknown(), id="as-condition"),
        pytest.param(Compare("eq", cast(Any, Unknown()), Literal(1)), id="as-value"),
        pytest.param(In(cast(Any, Unknown()), (Literal(1),)), id="as-operand"),
        pytest.param(
            BoolOp("and", Call("contains", (Property("Name"), Literal("a"))), cast(Any, Unknown())), id="nested"
        ),
    ],
)
def test_a_node_type_the_compiler_does_not_know_fails_loudly_instead_of_compiling(node: Any):
    with pytest.raises(AssertionError):
        compile_condition(SqliteDialect(), ITEMS, node, [])


def test_nullability_of_an_unknown_node_is_not_guessed():
    # The NULL guards ask whether a side can be NULL: an unknown node must not be taken for "never".
    with pytest.raises(AssertionError):
        _nullable(ITEMS, cast(Any, Unknown()))
