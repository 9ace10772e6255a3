"""The GROUP BY compiler: every shape runs on SQLite with the answers expected, and parses as T-SQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
import sqlglot
from sqlglot import exp

from redhorn.metadata import Column, Table
from redhorn.odata.apply import parse_apply
from redhorn.odata.parser import parse_query_options
from redhorn.query.aggregate import AggregatePlan, cut_grouped_page, plan_aggregate
from redhorn.query.paging import PageToken, verify_page_token
from redhorn.sql import MssqlDialect, SqliteDialect
from redhorn.sql.aggregate import compile_aggregate, compile_aggregate_count
from redhorn.sql.dialect import Dialect

NUMBER = Column("No", "Number", "integer", "int")
LINES = Table(
    "Ln",
    "Line",
    "lines",
    (
        NUMBER,
        Column("Prd", "Product", "string", "varchar(20)"),
        Column("Seg", "Segment", "string", "varchar(20)", nullable=True),
        Column("Qty", "Quantity", "integer", "int", nullable=True),
        Column("Am", "Amount", "decimal", "decimal(10,2)", precision=10, scale=2),
        Column("Dt", "Date", "integer", "int", domain="date"),
    ),
    (NUMBER,),
)
ROWS = [
    (1, "A", "x", 1, 10.5, 20260101),
    (2, "A", None, 2, 1.5, 20260102),
    (3, "B", "x", None, 7.0, 20260103),
    (4, "B", "y", 4, 3.0, 20260104),
    (5, "C", None, None, 2.25, 20260105),
]
SHAPES = [
    ("groupby((Product),aggregate(Amount with sum as Total))", {}),
    ("groupby((Product,Segment),aggregate($count as N,Quantity with average as Q))", {"$orderby": "N desc"}),
    ("filter(Number gt 1)/groupby((Product),aggregate(Date with max as Last))/filter(Last ge 2026-01-04)", {}),
    ("groupby((Segment))", {"$filter": "Segment ne null", "$top": "1"}),
    ("aggregate(Amount with min as Lo, Amount with max as Hi, Segment with countdistinct as D)", {}),
    ("groupby((Product),aggregate(Quantity with sum as S))", {"$skip": "1", "$count": "true"}),
]


@pytest.fixture
def connection() -> Iterator[sqlite3.Connection]:
    with sqlite3.connect(":memory:") as db:
        db.execute(
            'CREATE TABLE "Ln" ("No" INT PRIMARY KEY, "Prd" VARCHAR(20) COLLATE NOCASE, '
            '"Seg" VARCHAR(20) COLLATE NOCASE, "Qty" INT, "Am" DECIMAL(10,2), "Dt" INT)'
        )
        db.executemany("INSERT INTO Ln VALUES (?, ?, ?, ?, ?, ?)", ROWS)
        yield db


def run(db: sqlite3.Connection, apply: str, options: dict[str, str], page_size: int = 100) -> list[tuple[object, ...]]:
    plan = plan_aggregate(
        LINES, parse_apply(apply), parse_query_options(options.items()), page_size=page_size, token=None
    )
    statement = compile_aggregate(SqliteDialect(), plan.query)
    return db.execute(statement.sql, statement.params).fetchall()


def test_sum_per_group(connection: sqlite3.Connection) -> None:
    assert run(connection, *SHAPES[0]) == [("A", 12.0), ("B", 10.0), ("C", 2.25)]


def test_count_and_average_ordered_by_an_alias(connection: sqlite3.Connection) -> None:
    rows = run(connection, *SHAPES[1])
    assert rows[0][2] == 1 and len(rows) == 5
    assert ("B", "y", 1, 4) in rows and ("C", None, 1, None) in rows


def test_filters_before_and_after_grouping(connection: sqlite3.Connection) -> None:
    assert run(connection, *SHAPES[2]) == [("B", 20260104), ("C", 20260105)]


def test_filter_and_top_on_the_grouped_result(connection: sqlite3.Connection) -> None:
    assert run(connection, *SHAPES[3]) == [("x",)]


def test_aggregate_alone(connection: sqlite3.Connection) -> None:
    assert run(connection, *SHAPES[4]) == [(1.5, 10.5, 2)]


def test_integer_sums_and_averages(connection: sqlite3.Connection) -> None:
    assert run(connection, "groupby((Product),aggregate(Quantity with sum as S, Quantity with average as A))", {}) == [
        ("A", 3, 1.5),
        ("B", 4, 4.0),
        ("C", None, None),
    ]


def test_skip_and_count(connection: sqlite3.Connection) -> None:
    plan = plan_aggregate(
        LINES, parse_apply(SHAPES[5][0]), parse_query_options(SHAPES[5][1].items()), page_size=10, token=None
    )
    assert plan.count is not None
    count = compile_aggregate_count(SqliteDialect(), plan.count)
    assert connection.execute(count.sql, count.params).fetchone() == (3,)
    assert run(connection, *SHAPES[5]) == [("B", 4), ("C", None)]


def test_a_seek_continues_after_the_last_group(connection: sqlite3.Connection) -> None:
    plan = plan_aggregate(
        LINES, parse_apply(SHAPES[0][0]), parse_query_options([]), page_size=1, token=PageToken(("A",), 1)
    )
    statement = compile_aggregate(SqliteDialect(), plan.query)
    assert connection.execute(statement.sql, statement.params).fetchall() == [("B", 10.0), ("C", 2.25)]


def test_aliases_are_quoted() -> None:
    plan = plan_aggregate(
        LINES, parse_apply("groupby((Product),aggregate($count as Select))"), parse_query_options([]), page_size=5,
        token=None,
    )  # fmt: skip
    assert 'AS "Select"' in compile_aggregate(SqliteDialect(), plan.query).sql
    assert "AS [Select]" in compile_aggregate(MssqlDialect(), plan.query).sql


@pytest.mark.parametrize("dialect", [MssqlDialect(), SqliteDialect()], ids=["tsql", "sqlite"])
@pytest.mark.parametrize(("apply", "options"), SHAPES)
def test_every_shape_parses(dialect: Dialect, apply: str, options: dict[str, str]) -> None:
    """First pages, later pages (a seek) and counts, as sqlglot reads them."""
    parsed = parse_query_options(options.items())
    first = plan_aggregate(LINES, parse_apply(apply), parsed, page_size=2, token=None)
    statements = [compile_aggregate(dialect, first.query)]
    if first.count is not None:
        statements.append(compile_aggregate_count(dialect, first.count))
    if first.query.order:
        values = tuple("A" if entry.column.kind == "string" else 1 for entry in first.query.order)
        later = plan_aggregate(LINES, parse_apply(apply), parsed, page_size=2, token=PageToken(values, 2))
        statements.append(compile_aggregate(dialect, later.query))
    read = "tsql" if isinstance(dialect, MssqlDialect) else "sqlite"
    for statement in statements:
        sqlglot.parse_one(statement.sql, read=read)
        assert statement.sql.count("?") == len(statement.params)


def test_tsql_pages_with_top_and_offset() -> None:
    plan = plan_aggregate(
        LINES, parse_apply(SHAPES[0][0]), parse_query_options([("$skip", "2")]), page_size=3, token=None
    )
    sql = compile_aggregate(MssqlDialect(), plan.query).sql
    assert "OFFSET ? ROWS FETCH NEXT ? ROWS ONLY" in sql
    plan = plan_aggregate(LINES, parse_apply(SHAPES[0][0]), parse_query_options([]), page_size=3, token=None)
    assert compile_aggregate(MssqlDialect(), plan.query).sql.startswith("SELECT TOP (?) ")


# --- where a later page's seek goes ---------------------------------------------------------------

DIALECTS = [pytest.param(MssqlDialect(), id="tsql"), pytest.param(SqliteDialect(), id="sqlite")]


def later_page(apply: str, options: dict[str, str], values: tuple[object, ...]) -> AggregatePlan:
    parsed = parse_query_options(options.items())
    return plan_aggregate(LINES, parse_apply(apply), parsed, page_size=2, token=PageToken(values, 2))


def seek_places(dialect: Dialect, plan: AggregatePlan) -> tuple[set[str], set[str] | None]:
    """The columns the WHERE before grouping names, and those the WHERE of the query over the
    grouped result names (None when the statement is the flat GROUP BY), as sqlglot parses it."""
    statement = compile_aggregate(dialect, plan.query)
    assert statement.sql.count("?") == len(statement.params)
    tree = sqlglot.parse_one(statement.sql, read="tsql" if isinstance(dialect, MssqlDialect) else "sqlite")
    grouping = next(select for select in tree.find_all(exp.Select) if select.args.get("group"))

    def named(select: exp.Expr) -> set[str]:
        where = select.args.get("where")
        return set() if where is None else {column.name for column in where.find_all(exp.Column)}

    return named(grouping), None if grouping is tree else named(tree)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_seek_on_group_keys_goes_before_grouping(dialect: Dialect) -> None:
    plan = later_page(SHAPES[0][0], {}, ("A",))
    assert seek_places(dialect, plan) == ({"Prd"}, None)
    plan = later_page("groupby((Product,Segment),aggregate($count as N))", {"$orderby": "Segment desc"}, ("x", "A"))
    assert seek_places(dialect, plan) == ({"Prd", "Seg"}, None)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_seek_on_group_keys_goes_before_grouping_beside_a_condition_on_an_aggregate(dialect: Dialect) -> None:
    """The condition on a total is tested after grouping; the seek on the keys still before it."""
    plan = later_page(SHAPES[0][0], {"$filter": "Total gt 1", "$orderby": "Product desc"}, ("B",))
    assert plan.query.derived
    assert seek_places(dialect, plan) == ({"Prd"}, {"Total"})


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_seek_on_an_aggregate_stays_after_grouping(dialect: Dialect) -> None:
    plan = later_page(SHAPES[1][0], SHAPES[1][1], (2, "A", "x"))
    assert seek_places(dialect, plan) == (set(), {"N", "Prd", "Seg"})


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_leading_group_key_bounds_the_rows_when_an_aggregate_follows(dialect: Dialect) -> None:
    """Order by a key, then a total: the seek stays after grouping, the key's bound goes before it."""
    apply = "groupby((Product,Segment),aggregate($count as N))"
    plan = later_page(apply, {"$orderby": "Product,N desc"}, ("B", 1, "x"))
    assert seek_places(dialect, plan) == ({"Prd"}, {"N", "Prd", "Seg"})
    plan = later_page(apply, {"$orderby": "Segment desc,N"}, (None, 1, "A"))
    assert seek_places(dialect, plan) == ({"Seg"}, {"N", "Prd", "Seg"})
    plan = later_page(apply, {"$orderby": "Segment,N"}, (None, 1, "A"))
    assert seek_places(dialect, plan) == (set(), {"N", "Prd", "Seg"}), "every row sorts at or after NULL"


def pull(db: sqlite3.Connection, apply: str, options: dict[str, str], page_size: int) -> list[tuple[object, ...]]:
    """Every group, page by page through the signed tokens."""
    parsed = parse_query_options(options.items())
    token: PageToken | None = None
    groups: list[tuple[object, ...]] = []
    while True:
        plan = plan_aggregate(LINES, parse_apply(apply), parsed, page_size=page_size, token=token)
        statement = compile_aggregate(SqliteDialect(), plan.query)
        page, text = cut_grouped_page(plan, db.execute(statement.sql, statement.params).fetchall(), b"k", "b")
        groups.extend(page)
        if text is None:
            return groups
        token = verify_page_token(b"k", "b", text)


@pytest.mark.parametrize(
    "options",
    [{}, {"$orderby": "Segment desc,Product desc"}, {"$orderby": "N desc"}, {"$orderby": "Segment,N desc"},
     {"$orderby": "Segment desc,N"},
     {"$orderby": "Segment desc", "$filter": "N ge 1"}, {"$orderby": "Product desc,N", "$filter": "Product ne 'C'"}],
)  # fmt: skip
def test_pages_add_up_to_the_whole_result(connection: sqlite3.Connection, options: dict[str, str]) -> None:
    apply = "groupby((Product,Segment),aggregate($count as N,Quantity with max as M))"
    whole = pull(connection, apply, options, 100)
    assert len(whole) == (4 if "$filter" in options and "C" in options["$filter"] else 5)
    for page_size in (1, 2, 3):
        assert pull(connection, apply, options, page_size) == whole
