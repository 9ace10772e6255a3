"""Random `$apply` groupings over the probe table equal a pure-Python reference, on both engines.

Group keys follow the columns' collation (SQLite's NOCASE folds ASCII letters only), NULL is a
group of its own and sorts first, and aggregates skip NULLs as SQL's do. Pages of random size are
followed through their signed tokens, so the keyset on the group keys is checked as well.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings, strategies as st

from redhorn.odata.apply import parse_apply
from redhorn.odata.parser import parse_query_options
from redhorn.query.aggregate import plan_aggregate
from redhorn.query.paging import PageToken
from redhorn.sql import MssqlDialect
from redhorn.sql.aggregate import compile_aggregate, compile_aggregate_count
from tests.properties.probe import COMPANY, build_probe_folder
from tests.query.test_aggregate import Company, open_company, pull_groups

GROUPABLE = ["Grp", "Nm", "Seg", "Qty"]
TEXT = {"Nm", "Seg"}
# (property, method) pairs the reference computes.
AGGREGATES = [
    ("Amt", "sum"), ("Amt", "average"), ("Amt", "min"), ("Amt", "max"),
    ("Qty", "sum"), ("Qty", "average"), ("Qty", "min"), ("Qty", "max"),
    ("Nm", "countdistinct"), ("Seg", "countdistinct"), ("Qty", "countdistinct"), ("Grp", "countdistinct"),
    ("Nm", "min"), ("Seg", "max"), (None, "count"),
]  # fmt: skip
_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(name: str, value: Any) -> Any:
    """A value as its column compares it: NOCASE text folds ASCII letters."""
    return value.translate(_FOLD) if name in TEXT and isinstance(value, str) else value


def sort_key(value: Any) -> tuple[int, Any]:
    return (0, 0) if value is None else (1, value)


class Probe:
    def __init__(self, company: Company, rows: list[dict[str, Any]]) -> None:
        self.company = company
        self.rows = rows


@pytest.fixture(scope="module")
async def probe(tmp_path_factory: pytest.TempPathFactory, demo_folder: Path, engine: str) -> AsyncIterator[Probe]:
    folder = tmp_path_factory.mktemp("apply-probe")
    rows = build_probe_folder(demo_folder, folder)
    company = await open_company(folder, engine, f"F{COMPANY:04d}")
    yield Probe(company, rows)
    await company.engine.close()


def aggregate(method: str, name: str | None, rows: list[dict[str, Any]]) -> Any:
    if method == "count":
        return len(rows)
    assert name is not None
    values = [row[name] for row in rows if row[name] is not None]
    if method == "countdistinct":
        return len({fold(name, value) for value in values})
    if not values:
        return None
    if method == "sum":
        return sum(Decimal(str(value)) for value in values)
    if method == "average":
        return sum(Decimal(str(value)) for value in values) / len(values)
    chosen = (min if method == "min" else max)(values, key=lambda value: fold(name, value))
    return fold(name, chosen)


def reference(
    rows: list[dict[str, Any]], groups: list[str], items: list[tuple[str | None, str]], threshold: int | None
) -> list[tuple[Any, ...]]:
    buckets: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        if threshold is None or row["Grp"] <= threshold:
            buckets.setdefault(tuple(fold(name, row[name]) for name in groups), []).append(row)
    if not groups and not buckets:
        buckets[()] = []
    answers = [
        key + tuple(aggregate(method, name, members) for name, method in items) for key, members in buckets.items()
    ]
    return sorted(answers, key=lambda answer: tuple(sort_key(value) for value in answer[: len(groups)]))


def normalize(group: dict[str, Any], names: list[str], items: list[tuple[str | None, str]]) -> tuple[Any, ...]:
    values: list[Any] = [fold(name, group[name]) for name in names]
    for index, (name, method) in enumerate(items):
        value = group[f"A{index}"]
        if method in ("min", "max") and name is not None:
            value = fold(name, value)
        values.append(value)
    return tuple(values)


def close(actual: Any, expected: Any) -> bool:
    if isinstance(expected, Decimal) and actual is not None:
        return abs(Decimal(str(actual)) - expected) <= Decimal("0.000001") * max(Decimal(1), abs(expected))
    if isinstance(expected, float) and actual is not None:
        return abs(float(actual) - expected) < 1e-6
    return bool(actual == expected)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    groups=st.lists(st.sampled_from(GROUPABLE), max_size=3, unique=True),
    items=st.lists(st.sampled_from(AGGREGATES), min_size=0, max_size=4),
    threshold=st.one_of(st.none(), st.integers(0, 4)),
    page_size=st.integers(1, 50),
)
async def test_groupby_aggregate_matches_the_reference(
    probe: Probe, groups: list[str], items: list[tuple[str | None, str]], threshold: int | None, page_size: int
) -> None:
    if not groups and not items:
        items = [(None, "count")]
    parts = [
        f"$count as A{i}" if name is None else f"{name} with {method} as A{i}" for i, (name, method) in enumerate(items)
    ]
    aggregate_text = f"aggregate({','.join(parts)})" if parts else ""
    if groups:
        grouping = f"groupby(({','.join(groups)})" + (f",{aggregate_text})" if parts else ")")
    else:
        grouping = aggregate_text
    apply = grouping if threshold is None else f"filter(Grp le {threshold})/{grouping}"
    answer, _ = await pull_groups(probe.company, "probe", apply, {}, page_size)
    expected = reference(probe.rows, groups, items, threshold)
    actual = [normalize(group, groups, items) for group in answer]
    assert len(actual) == len(expected), apply
    for got, wanted in zip(actual, expected, strict=True):
        assert all(close(a, b) for a, b in zip(got, wanted, strict=True)), (apply, got, wanted)
    assert_mssql_parses(probe, apply)


def assert_mssql_parses(probe: Probe, apply: str) -> None:
    table = probe.company.table("probe")
    options = parse_query_options([("$count", "true")])
    dialect = MssqlDialect()
    first = plan_aggregate(table, parse_apply(apply), options, page_size=3, token=None)
    statements = [compile_aggregate(dialect, first.query)]
    assert first.count is not None
    statements.append(compile_aggregate_count(dialect, first.count))
    if first.query.order:
        values = tuple(probe.rows[0][entry.column.sql_name] for entry in first.query.order)
        later = plan_aggregate(table, parse_apply(apply), options, page_size=3, token=PageToken(values, 3))
        statements.append(compile_aggregate(dialect, later.query))
    for statement in statements:
        sqlglot.parse_one(statement.sql, read="tsql")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(minimum=st.integers(0, 30), descending=st.booleans(), top=st.one_of(st.none(), st.integers(0, 40)),
       page_size=st.integers(1, 20))  # fmt: skip
async def test_filter_order_and_top_on_grouped_results(
    probe: Probe, minimum: int, descending: bool, top: int | None, page_size: int
) -> None:
    options = {"$filter": f"N ge {minimum}", "$orderby": "N desc" if descending else "N"}
    if top is not None:
        options["$top"] = str(top)
    answer, _ = await pull_groups(
        probe.company, "probe", "groupby((Nm,Grp),aggregate($count as N))", options, page_size
    )
    counted = reference(probe.rows, ["Nm", "Grp"], [(None, "count")], None)
    kept = [row for row in counted if row[2] >= minimum]
    kept.sort(key=lambda row: -row[2] if descending else row[2])  # stable: ties keep the group-key order
    actual = [(fold("Nm", group["Nm"]), group["Grp"], group["N"]) for group in answer]
    assert actual == kept[:top]


# --- pages whose seek is tested before grouping, and after it -------------------------------------

# Integer aggregates an order can name: exact on both engines, so ties break as the reference breaks them.
ORDERABLE = {"N": "$count as N", "S": "Qty with sum as S", "M": "Qty with max as M"}
SEEK_AGGREGATES = ",".join(ORDERABLE.values())


def ordered_groups(
    rows: list[dict[str, Any]], groups: list[str], order: list[tuple[str, bool]], minimum: int | None
) -> list[tuple[Any, ...]]:
    """Groups as (folded keys..., N, S, M), kept by `N ge minimum`, sorted by `order` (name, descending)."""
    buckets: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        buckets.setdefault(tuple(fold(name, row[name]) for name in groups), []).append(row)
    answers: list[tuple[Any, ...]] = []
    for key, members in buckets.items():
        quantities = [row["Qty"] for row in members if row["Qty"] is not None]
        total = sum(quantities) if quantities else None
        answers.append((*key, len(members), total, max(quantities) if quantities else None))
    if minimum is not None:
        answers = [answer for answer in answers if answer[len(groups)] >= minimum]
    columns = [*groups, *ORDERABLE]
    for name, descending in reversed(order):  # stable sorts, the last key first
        index = columns.index(name)
        answers.sort(key=lambda answer: (answer[index] is not None, answer[index]), reverse=descending)
    return answers


def seek_order(
    groups: list[str], descending: list[bool], named: int, by_aggregate: tuple[str, bool, int] | None
) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    """`$orderby`'s items (the first `named` group keys, maybe an aggregate among them), and the
    whole order the planner makes of it: the group keys `$orderby` leaves out follow, ascending."""
    asked = [(name, descending[index]) for index, name in enumerate(groups[:named])]
    if by_aggregate is not None:
        alias, aggregate_descending, position = by_aggregate
        asked.insert(min(position, len(asked)), (alias, aggregate_descending))
    mentioned = {name for name, _ in asked}
    return asked, asked + [(name, False) for name in groups if name not in mentioned]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    groups=st.lists(st.sampled_from(GROUPABLE), min_size=1, max_size=3, unique=True),
    descending=st.lists(st.booleans(), min_size=3, max_size=3),
    named=st.integers(0, 3),
    by_aggregate=st.one_of(st.none(), st.tuples(st.sampled_from(sorted(ORDERABLE)), st.booleans(), st.integers(0, 3))),
    minimum=st.one_of(st.none(), st.integers(1, 6)),
    page_size=st.integers(1, 12),
)
async def test_every_page_shape_matches_the_reference(
    probe: Probe,
    groups: list[str],
    descending: list[bool],
    named: int,
    by_aggregate: tuple[str, bool, int] | None,
    minimum: int | None,
    page_size: int,
) -> None:
    """Multi-page pulls over nullable and several group keys, ascending and descending, ordered by
    an aggregate or not, filtered on an aggregate or not: the seek goes before grouping or stays
    after it (`redhorn.sql.aggregate`), and the groups are those of the reference either way."""
    asked, order = seek_order(groups, descending, named, by_aggregate)
    apply = f"groupby(({','.join(groups)}),aggregate({SEEK_AGGREGATES}))"
    options: dict[str, str] = {}
    if asked:
        options["$orderby"] = ",".join(f"{name} desc" if flag else name for name, flag in asked)
    if minimum is not None:
        options["$filter"] = f"N ge {minimum}"
    answer, _ = await pull_groups(probe.company, "probe", apply, options, page_size)
    actual = [(*(fold(name, group[name]) for name in groups), group["N"], group["S"], group["M"]) for group in answer]
    assert actual == ordered_groups(probe.rows, groups, order, minimum), (apply, options)
    assert_later_pages_parse_as_tsql(probe, apply, options)


def assert_later_pages_parse_as_tsql(probe: Probe, apply: str, options: dict[str, str]) -> None:
    """A later page's statement, with its seek wherever it went, is T-SQL as sqlglot reads it."""
    table = probe.company.table("probe")
    parsed = parse_query_options(options.items())
    first = plan_aggregate(table, parse_apply(apply), parsed, page_size=3, token=None)
    row = probe.rows[0]
    values = tuple(row.get(entry.column.sql_name, 1) for entry in first.query.order)
    later = plan_aggregate(table, parse_apply(apply), parsed, page_size=3, token=PageToken(values, 3))
    statement = compile_aggregate(MssqlDialect(), later.query)
    sqlglot.parse_one(statement.sql, read="tsql")
    assert statement.sql.count("?") == len(statement.params)
