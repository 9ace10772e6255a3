"""`$expand` planning: the linking condition, chunks under SQL Server's parameter limit, T-SQL that parses."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import sqlglot

from redhorn.encoding import ENCODER
from redhorn.engines.sqlite import SqliteEngine
from redhorn.errors import InvalidQuery
from redhorn.metadata import Column, Database, Relation, Table
from redhorn.odata.ast import BoolOp, Compare, In, Literal, Property
from redhorn.query.expand import (
    MAX_LINK_PARAMETERS,
    Expander,
    as_array,
    chunks,
    expanded_key_query,
    link_condition,
    plan_expand,
    splice,
    statement_query,
)
from redhorn.query.plan import plan_key
from redhorn.sql import MssqlDialect
from redhorn.sql.compiler import compile_select
from redhorn.sql.select import OrderColumn, SelectQuery
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


def test_splice_adds_members_before_the_closing_brace():
    assert splice(b'{"A":1}', [("Parts", [b'{"A":1}', b'{"A":2}']), ("Head", None)]) == (
        b'{"A":1,"Parts":[{"A":1},{"A":2}],"Head":null}'
    )
    assert splice(b"{}", [("Head", {"A": 1})]) == b'{"Head":{"A":1}}'
    assert splice(b'{"A":1}', []) == b'{"A":1}'
    mixed = splice(b'{"A":1}', [("Parts", [b'{"A":1}', {"B": "x"}])])
    assert msgspec.json.decode(mixed) == {"A": 1, "Parts": [{"A": 1}, {"B": "x"}]}


@pytest.fixture
def head_and_parts(tmp_path: Path) -> Iterator[SqliteEngine]:
    """Heads and parts linked on two columns: two heads with a part each, one with none."""
    with sqlite3.connect(tmp_path / "F2.db") as connection:
        connection.executescript(
            """
            CREATE TABLE H (A INTEGER, B VARCHAR(4), PRIMARY KEY (A, B));
            CREATE TABLE P (A INTEGER, B VARCHAR(4), PRIMARY KEY (A, B));
            INSERT INTO H VALUES (1, 'x'), (2, 'y'), (3, 'z');
            INSERT INTO P VALUES (1, 'x'), (2, 'y'), (2, 'Y ');
            """
        )
    engine = SqliteEngine(tmp_path)
    yield engine
    asyncio.run(engine.close())


@pytest.mark.parametrize("text", ["Parts", "Parts($expand=Head)", "Parts($select=B;$orderby=B desc;$top=1)"])
def test_json_and_value_rendering_give_the_same_answer(head_and_parts: SqliteEngine, text: str):
    """The splice over the engine's JSON and the mapping over values nest the same rows, level by level."""

    async def answer(page_json: bool, nested_json: bool) -> Any:
        page = plan_key(HEAD, (0, ""), None, json_rows=page_json)
        page = msgspec.structs.replace(page, key_values=None, limit=None, order=(OrderColumn(A), OrderColumn(B)))
        nodes = plan_expand(TWO, HEAD, text, max_depth=2, json_rows=nested_json)
        page = expanded_key_query(page, nodes)
        fetched = await head_and_parts.fetch("F2", compile_select(head_and_parts.dialect, page), timeout=5)
        expander = Expander(head_and_parts, "F2", timeout=5, max_rows=10)
        return msgspec.json.decode(ENCODER.encode(as_array(await expander.render(page, nodes, fetched))))

    answers = {(a, b): asyncio.run(answer(a, b)) for a in (False, True) for b in (False, True)}
    assert len({msgspec.json.encode(value) for value in answers.values()}) == 1, answers
    first = answers[(True, True)]
    assert [len(row["Parts"]) for row in first] == [1, 1, 0]  # SQLite compares text exactly: 'Y ' is not 'y'
    assert first[2]["Parts"] == []
