"""Random `$filter`s with the functions and arithmetic Power BI folds select the rows a Python
reference of OData's semantics selects, on SQLite through both drivers redhorn reads it with
(`sqlite3`, as the embedded engine, and pyodbc with the SQLite ODBC driver, as the ODBC engine),
NULLs and Visma's 0 dates included; the same filters compile to T-SQL that sqlglot parses.

The reference follows what redhorn documents: any function or arithmetic of null is null, a
comparison with a null side holds only for `ne` (two-valued logic, also under `not`), `year()`
of the stored 0 is null, division or remainder by zero is null, integers divide truncating
toward zero, decimals as doubles (SQLite keeps them as REAL).
"""

from __future__ import annotations

import math
import random
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings, strategies as st

from redhorn.metadata import Column, Table
from redhorn.odata.binder import bind_filter
from redhorn.odata.parser import parse_filter
from redhorn.sql import MssqlDialect, SqliteDialect
from redhorn.sql.compiler import compile_select
from redhorn.sql.select import OrderColumn, SelectQuery
from tests.conftest import ENGINES, ODBC_DRIVER, require_odbc_driver

ID = Column("Id", "Id", "integer", "int")
TABLE = Table(
    "Fx",
    "Fx",
    "fx",
    (
        ID,
        Column("Dt", "Dt", "integer", "int", domain="date"),
        Column("Tm", "Tm", "integer", "int", domain="time"),
        Column("Qty", "Qty", "integer", "int", nullable=True),
        Column("Amt", "Amt", "decimal", "decimal(10,2)", precision=10, scale=2),
        Column("Nm", "Nm", "string", "varchar(20)", nullable=True),
    ),
    (ID,),
)
NAMES = [None, "", "abc", "Alfa", " pad ", "a_b%", "bab", "ØST", "zz"]
ROW_COUNT = 80


def make_rows(seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for number in range(1, ROW_COUNT + 1):
        date = 0 if rng.random() < 0.15 else rng.randrange(2024, 2027) * 10000 + rng.randrange(1, 13) * 100 + 1
        rows.append(
            {
                "Id": number,
                "Dt": date + (rng.randrange(0, 28) if date else 0),
                "Tm": rng.randrange(24) * 100 + rng.randrange(60),
                "Qty": None if rng.random() < 0.25 else rng.randrange(-9, 10),
                # Whole amounts too: SQLite keeps 5.00 as the integer 5.
                "Amt": float(rng.randrange(-20, 20)) if rng.random() < 0.3 else rng.randrange(-2000, 2000) / 100,
                "Nm": rng.choice(NAMES),
            }
        )
    return rows


ROWS = make_rows()


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("functions") / "fx.db"
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE Fx (Id INTEGER PRIMARY KEY, Dt INT NOT NULL, Tm INT NOT NULL, Qty INT, "
            "Amt DECIMAL(10,2) NOT NULL, Nm VARCHAR(20))"
        )
        connection.executemany("INSERT INTO Fx VALUES (?, ?, ?, ?, ?, ?)", [tuple(row.values()) for row in ROWS])
    connection.close()
    return path


@pytest.fixture(scope="module", params=ENGINES)
def run(request: pytest.FixtureRequest, database: Path) -> Iterator[Callable[[str, tuple[Any, ...]], list[int]]]:
    """Runs a statement through one of the two drivers and returns the first column."""
    if request.param == "odbc":
        require_odbc_driver()
        import pyodbc

        connection: Any = pyodbc.connect(f"Driver={ODBC_DRIVER};Database={database}")
    else:
        connection = sqlite3.connect(database)

    def execute(sql: str, params: tuple[Any, ...]) -> list[int]:
        return [row[0] for row in connection.execute(sql, params).fetchall()]

    yield execute
    connection.close()


# --- expressions: a rendering and the reference, together -----------------------------------------


@dataclass(frozen=True)
class Expr:
    text: str
    evaluate: Callable[[dict[str, Any]], Any]


def prop(name: str) -> Expr:
    return Expr(name, lambda row: row[name])


def const(value: Any) -> Expr:
    return Expr(repr(value) if not isinstance(value, str) else "'" + value.replace("'", "''") + "'", lambda row: value)


def null_safe(function: Callable[..., Any], *args: Expr) -> Callable[[dict[str, Any]], Any]:
    def evaluate(row: dict[str, Any]) -> Any:
        values = [arg.evaluate(row) for arg in args]
        return None if any(value is None for value in values) else function(*values)

    return evaluate


def trunc_div(a: int, b: int) -> int:
    quotient = abs(a) // abs(b)
    return quotient if (a < 0) == (b < 0) else -quotient


def divide(integer: bool) -> Callable[[Any, Any], Any]:
    def apply(a: Any, b: Any) -> Any:
        if b == 0:
            return None
        return trunc_div(a, b) if integer else float(a) / float(b)

    return apply


def remainder(integer: bool) -> Callable[[Any, Any], Any]:
    def apply(a: Any, b: Any) -> Any:
        if b == 0:
            return None
        if integer:
            return a - b * trunc_div(a, b)
        return float(a) - b * int(float(a) / b)

    return apply


def sqlite_round(x: float) -> int:
    return int(math.copysign(int(abs(x) + 0.5), x))


def visma_date_part(divisor: int, modulus: int | None) -> Callable[[int], Any]:
    def part(value: int) -> Any:
        if value == 0:
            return None
        return value // divisor % modulus if modulus else value // divisor

    return part


ROUNDINGS: dict[str, Callable[[float], int]] = {"round": sqlite_round, "floor": math.floor, "ceiling": math.ceil}
# (expression, whether it is an integer)
Numeric = tuple[Expr, bool]
leaves: list[st.SearchStrategy[Numeric]] = [
    st.just((prop("Qty"), True)),
    st.just((prop("Amt"), False)),
    st.integers(-5, 5).map(lambda n: (const(n), True)),
    st.sampled_from(
        [
            ("year", 1, 10000, None),
            ("month", 1, 100, 100),
            ("day", 1, 1, 100),
        ]
    ).map(lambda f: (Expr(f"{f[0]}(Dt)", null_safe(visma_date_part(f[2], f[3]), prop("Dt"))), True)),
    st.sampled_from(["hour", "minute", "second"]).map(
        lambda f: (
            Expr(
                f"{f}(Tm)",
                null_safe(
                    {"hour": lambda t: t // 100, "minute": lambda t: t % 100, "second": lambda t: 0}[f], prop("Tm")
                ),
            ),
            True,
        )
    ),
    st.just((Expr("length(Nm)", null_safe(len, prop("Nm"))), True)),
    st.sampled_from(["a", "b", "", "pad"]).map(
        lambda needle: (Expr(f"indexof(Nm,'{needle}')", null_safe(lambda s: s.find(needle), prop("Nm"))), True)
    ),
    st.sampled_from(["round", "floor", "ceiling"]).map(
        lambda f: (
            Expr(
                f"{f}(Amt)",
                null_safe(ROUNDINGS[f], prop("Amt")),
            ),
            False,
        )
    ),
]


def combine(inner: st.SearchStrategy[Numeric]) -> st.SearchStrategy[Numeric]:
    @st.composite
    def arithmetic(draw: st.DrawFn) -> Numeric:
        (left, left_int), (right, right_int) = draw(inner), draw(inner)
        operator = draw(st.sampled_from(["add", "sub", "mul", "div", "mod"]))
        integer = left_int and right_int
        function = {
            "add": lambda a, b: a + b,
            "sub": lambda a, b: a - b,
            "mul": lambda a, b: a * b,
            "div": divide(integer),
            "mod": remainder(integer),
        }[operator]
        return Expr(f"({left.text} {operator} {right.text})", null_safe(function, left, right)), integer

    @st.composite
    def negated(draw: st.DrawFn) -> Numeric:
        operand, integer = draw(inner)
        return Expr(f"-({operand.text})", null_safe(lambda a: -a, operand)), integer

    return st.one_of(arithmetic(), negated())


numbers = st.recursive(st.one_of(leaves), combine, max_leaves=4)

texts: st.SearchStrategy[Expr] = st.one_of(
    st.just(prop("Nm")),
    st.tuples(st.integers(0, 4), st.one_of(st.none(), st.integers(0, 3))).map(
        lambda a: Expr(
            f"substring(Nm,{a[0]})" if a[1] is None else f"substring(Nm,{a[0]},{a[1]})",
            null_safe(lambda s: s[a[0] :] if a[1] is None else s[a[0] : a[0] + a[1]], prop("Nm")),
        )
    ),
    st.sampled_from(["x", "", "a"]).map(lambda t: Expr(f"concat(Nm,'{t}')", null_safe(lambda s: s + t, prop("Nm")))),
    st.just(Expr("trim(Nm)", null_safe(lambda s: s.strip(" "), prop("Nm")))),
    st.just(Expr("toupper(Nm)", null_safe(lambda s: "".join(c.upper() if c.isascii() else c for c in s), prop("Nm")))),
)


def compare(operator: str, left: Any, right: Any) -> bool:
    if left is None or right is None:
        return operator == "ne" and (left is None) != (right is None) or (operator == "eq" and left is right)
    outcome: bool = {
        "eq": left == right,
        "ne": left != right,
        "gt": left > right,
        "ge": left >= right,
        "lt": left < right,
        "le": left <= right,
    }[operator]
    return outcome


OPERATORS = ["eq", "ne", "gt", "ge", "lt", "le"]


@st.composite
def number_conditions(draw: st.DrawFn) -> Expr:
    expression, _ = draw(numbers)
    operator = draw(st.sampled_from(OPERATORS))
    if draw(st.integers(0, 5)) == 0:
        operator = draw(st.sampled_from(["eq", "ne"]))
        return Expr(f"{expression.text} {operator} null", lambda row: compare(operator, expression.evaluate(row), None))
    other, _ = draw(numbers) if draw(st.booleans()) else (const(draw(st.integers(-20, 20))), True)
    return Expr(
        f"{expression.text} {operator} {other.text}",
        lambda row: compare(operator, expression.evaluate(row), other.evaluate(row)),
    )


@st.composite
def text_conditions(draw: st.DrawFn) -> Expr:
    expression = draw(texts)
    if draw(st.booleans()):
        function = draw(st.sampled_from(["contains", "startswith", "endswith"]))
        pattern = draw(st.sampled_from(["a", "b", "", "A", "_", "%"]))
        test = {
            "contains": lambda s: pattern.lower() in s.lower(),
            "startswith": lambda s: s.lower().startswith(pattern.lower()),
            "endswith": lambda s: s.lower().endswith(pattern.lower()),
        }[function]
        return Expr(f"{function}({expression.text},'{pattern}')", lambda row: null_safe(test, expression)(row) is True)
    operator = draw(st.sampled_from(["eq", "ne"]))
    literal = draw(st.sampled_from(["", "abc", "bc", "b", "ALFA", "pad", "x"]))
    return Expr(
        f"{expression.text} {operator} '{literal}'",
        lambda row: compare(operator, expression.evaluate(row), literal),
    )


@st.composite
def date_conditions(draw: st.DrawFn) -> Expr:
    year, month, day = draw(st.integers(2024, 2026)), draw(st.integers(1, 12)), draw(st.integers(1, 28))
    operator = draw(st.sampled_from(OPERATORS))
    stored = year * 10000 + month * 100 + day
    if draw(st.booleans()):
        return Expr(f"Dt {operator} {year}-{month:02d}-{day:02d}", lambda row: compare(operator, row["Dt"], stored))
    hour, minute = draw(st.integers(0, 23)), draw(st.integers(0, 59))
    return Expr(f"Tm {operator} {hour:02d}:{minute:02d}", lambda row: compare(operator, row["Tm"], hour * 100 + minute))


def negate(condition: Expr) -> Expr:
    return Expr(f"not ({condition.text})", lambda row: not condition.evaluate(row))


def both(operator: str, left: Expr, right: Expr) -> Expr:
    if operator == "and":
        return Expr(f"({left.text}) and ({right.text})", lambda row: left.evaluate(row) and right.evaluate(row))
    return Expr(f"({left.text}) or ({right.text})", lambda row: left.evaluate(row) or right.evaluate(row))


conditions = st.recursive(
    st.one_of(number_conditions(), text_conditions(), date_conditions()),
    lambda inner: st.one_of(st.builds(negate, inner), st.builds(both, st.sampled_from(["and", "or"]), inner, inner)),
    max_leaves=3,
)


def statements(text: str) -> tuple[Any, Any]:
    where = bind_filter(parse_filter(text), TABLE)
    query = SelectQuery(TABLE, (ID,), (ID,), where=where, order=(OrderColumn(ID),))
    return compile_select(SqliteDialect(), query), compile_select(MssqlDialect(), query)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(condition=conditions)
def test_functions_and_arithmetic_select_the_reference_rows(
    run: Callable[[str, tuple[Any, ...]], list[int]], condition
):
    lite, tsql = statements(condition.text)
    expected = [row["Id"] for row in ROWS if condition.evaluate(row)]
    assert run(lite.sql, lite.params) == expected, (condition.text, lite.sql, lite.params)
    sqlglot.parse_one(tsql.sql, read="tsql")


# --- through the API, on both engines (the session's `client` runs once per engine) ---------------

API_FILTERS = [
    ("OrderDate ge 2026-01-01", "OrdDt >= 20260101"),
    (
        "year(OrderDate) eq 2026 and month(OrderDate) le 6",
        "OrdDt <> 0 AND OrdDt / 10000 = 2026 AND OrdDt / 100 % 100 <= 6",
    ),
    ("OrderNo mod 7 eq 3 and OrderNo div 7 lt 50", "OrdNo % 7 = 3 AND OrdNo / 7 < 50"),
    ("indexof(Name, 'a') eq 1 or substring(Name, 0, 1) eq 'S'", "instr(Nm, 'a') = 2 OR substr(Nm, 1, 1) = 'S'"),
    ("OrderDate le now()", "OrdDt <= CAST(strftime('%Y%m%d', 'now', 'localtime') AS INTEGER)"),
]


@pytest.mark.parametrize(("odata", "sql"), API_FILTERS, ids=[odata for odata, _ in API_FILTERS])
async def test_api_counts_equal_a_direct_query(client: Any, company_db: Path, odata: str, sql: str):
    response = await client.get("/api/9999/orders/$count", params={"$filter": odata})
    assert response.status_code == 200, response.text
    with sqlite3.connect(company_db) as connection:
        (expected,) = connection.execute(f"SELECT COUNT(*) FROM Ord WHERE {sql}").fetchone()
    connection.close()
    assert int(response.text) == expected


@pytest.mark.parametrize(
    ("odata", "message"),
    [
        ("OrderDate ge 2026-02-30", "Invalid date '2026-02-30'"),
        ("CustomerNo eq 2026-01-01", "Cannot compare a date (the literal 2026-01-01) with the property 'CustomerNo'"),
        ("year(Name) eq 2026", "year() takes a date, not a string (the property 'Name')"),
    ],
)
async def test_api_refuses_misuse_with_a_400(client: Any, odata: str, message: str):
    response = await client.get("/api/9999/orders", params={"$filter": odata})
    assert response.status_code == 400, response.text
    assert message in response.text
