"""`$expand` planning: the linking condition, chunks under SQL Server's parameter limit, T-SQL that parses."""

from __future__ import annotations

import pytest
import sqlglot

from redhorn.errors import InvalidQuery
from redhorn.metadata import Column, Database, Relation, Table
from redhorn.odata.ast import BoolOp, Compare, In, Literal, Property
from redhorn.query.expand import MAX_LINK_PARAMETERS, chunks, link_condition, plan_expand, statement_query
from redhorn.sql import MssqlDialect
from redhorn.sql.compiler import compile_select
from redhorn.sql.select import SelectQuery
from redhorn.sql.sqlite import SqliteDialect
from tests.odata.test_expand import DATABASE, LINES, ORDERS

A = Column("A", "A", "integer", "int")
B = Column("B", "B", "string", "varchar(4)", max_length=4)
HEAD = Table("H", "Head", "heads", (A, B), (A, B))
PART = Table("P", "Part", "parts", (A, B), (A, B), relations=(Relation("Head", "Head", (("A", "A"), ("B", "B"))),))
TWO = Database("F2", (HEAD, PART))


def tsql_and_sqlite(query: SelectQuery) -> None:
    mssql = compile_select(MssqlDialect(), query)
    sqlglot.parse_one(mssql.sql, read="tsql")
    assert len(mssql.params) < 2100
    compile_select(SqliteDialect(), query)


@pytest.mark.parametrize(
    "text",
    [
        "OrderLines",
        "OrderLines($select=LineNo;$filter=LineNo gt 1;$orderby=LineNo desc;$top=2)",
        "Customer($select=AssociateNo),Supplier",
        "OrderLines($expand=Order($select=OrderNo))",
    ],
)
def test_every_expand_shape_compiles_to_tsql(text: str):
    for node in plan_expand(DATABASE, ORDERS, text, max_depth=2):
        tsql_and_sqlite(statement_query(node, [(1,), (2,), (3,)]))
        for child in node.children:
            tsql_and_sqlite(statement_query(child, [(5,)]))


def test_one_column_link_is_in_several_an_or_of_ands():
    (lines,) = plan_expand(DATABASE, ORDERS, "OrderLines", max_depth=1)
    assert link_condition(lines.navigation, [(1,), (2,)]) == In(Property("OrderNo"), (Literal(1), Literal(2)))
    (head,) = plan_expand(TWO, PART, "Head", max_depth=1)
    condition = link_condition(head.navigation, [(1, "x"), (2, "y")])
    assert condition == BoolOp(
        "or",
        BoolOp("and", Compare("eq", Property("A"), Literal(1)), Compare("eq", Property("B"), Literal("x"))),
        BoolOp("and", Compare("eq", Property("A"), Literal(2)), Compare("eq", Property("B"), Literal("y"))),
    )
    tsql_and_sqlite(statement_query(head, [(1, "x"), (2, "y")]))
    (parts,) = plan_expand(TWO, HEAD, "Parts", max_depth=1)
    tsql_and_sqlite(statement_query(parts, [(1, "x")]))


def test_links_are_chunked_under_the_parameter_limit():
    (lines,) = plan_expand(DATABASE, ORDERS, "OrderLines($filter=LineNo gt 0)", max_depth=1)
    links = [(n,) for n in range(2500)]
    parts = chunks(lines.navigation, links)
    assert [len(p) for p in parts] == [MAX_LINK_PARAMETERS, MAX_LINK_PARAMETERS, 500]
    for part in parts:
        tsql_and_sqlite(statement_query(lines, part))
    (head,) = plan_expand(TWO, PART, "Head", max_depth=1)
    assert all(len(p) <= MAX_LINK_PARAMETERS // 2 for p in chunks(head.navigation, [(n, "x") for n in range(1200)]))


def test_link_and_order_columns_are_read_but_not_shown():
    (node,) = plan_expand(DATABASE, LINES, "Order($select=CustomerNo)", max_depth=1)
    assert [c.name for c in node.query.output] == ["CustomerNo"]
    assert [c.name for c in node.query.columns] == ["CustomerNo", "OrderNo"]


@pytest.mark.parametrize(
    ("text", "culprit"),
    [
        ("Nope", "'Nope'"),
        ("OrderLines($select=Bogus)", "'Bogus'"),
        ("OrderLines($orderby=Bogus)", "'Bogus'"),
        ("OrderLines($filter=Bogus eq 1)", "'Bogus'"),
        ("OrderLines($filter=LineNo eq 'x')", "LineNo"),
        ("OrderLines($expand=Nope)", "'Nope'"),
    ],
)
def test_unknown_names_are_400_naming_them(text: str, culprit: str):
    with pytest.raises(InvalidQuery) as caught:
        plan_expand(DATABASE, ORDERS, text, max_depth=2)
    assert caught.value.target == "$expand" and culprit in caught.value.message
