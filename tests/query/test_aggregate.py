"""Planning `$apply`: names, methods and aliases checked against the table; grouped pages end to end.

The end-to-end tests run plan -> compile -> engine -> page on the demo company (built at the test
scale and crawled), through the embedded engine and through ODBC, and follow the page tokens to
the end: the groups equal the same GROUP BY run directly with sqlite3.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from redhorn.catalog.crawler import crawl
from redhorn.catalog.dictionary import load_dictionary
from redhorn.engines.base import Engine
from redhorn.engines.connect import create_engine
from redhorn.errors import InvalidQuery, InvalidSkipToken
from redhorn.metadata import Metadata, Table
from redhorn.odata.apply import parse_apply
from redhorn.odata.parser import parse_query_options
from redhorn.query.aggregate import (
    apply_binding,
    cut_grouped_page,
    grouped_objects,
    plan_aggregate,
)
from redhorn.query.paging import PageToken, verify_page_token
from redhorn.settings import parse_settings
from redhorn.sql.aggregate import compile_aggregate, compile_aggregate_count
from tests.conftest import settings_document

KEY = b"test-key-0123456789"


class Company:
    def __init__(self, engine: Engine, metadata: Metadata, database: str) -> None:
        self.engine = engine
        self.metadata = metadata
        self.database = database

    def table(self, resource: str) -> Table:
        table = self.metadata.databases[self.database].table(resource)
        assert table is not None
        return table


async def open_company(folder: Path, engine_name: str, database: str) -> Company:
    """An engine over `folder` (embedded or ODBC) and the crawled metadata, as the server builds them."""
    settings = parse_settings(json.dumps(settings_document(folder, engine_name)))
    engine = create_engine(settings, folder, warn=False)
    return Company(engine, await crawl(engine, load_dictionary()), database)


async def pull_groups(
    company: Company, resource: str, apply: str, options: dict[str, str], page_size: int
) -> tuple[list[dict[str, Any]], list[int]]:
    """Every group, following the signed tokens page by page; and `$count` of each page when asked."""
    table = company.table(resource)
    parsed_apply = parse_apply(apply)
    parsed = parse_query_options(options.items())
    binding = apply_binding(company.database, table, apply, parsed, "demo")
    token: PageToken | None = None
    groups: list[dict[str, Any]] = []
    counts: list[int] = []
    for _ in range(10_000):
        plan = plan_aggregate(table, parsed_apply, parsed, page_size=page_size, token=token)
        dialect = company.engine.dialect
        rows = await company.engine.fetch(company.database, compile_aggregate(dialect, plan.query))
        if plan.count is not None:
            counted = await company.engine.fetch(company.database, compile_aggregate_count(dialect, plan.count))
            counts.append(int(counted[0][0]))
        page, text = cut_grouped_page(plan, [tuple(row) for row in rows], KEY, binding)
        assert len(page) <= page_size
        groups.extend(grouped_objects(plan, page))
        if text is None:
            return groups, counts
        assert page, "a page that promises more is never empty"
        token = verify_page_token(KEY, binding, text)
    raise AssertionError("paging did not end")


@pytest.fixture(scope="module")
async def company(demo_folder: Path, engine: str) -> AsyncIterator[Company]:
    opened = await open_company(demo_folder, engine, "F9999")
    yield opened
    await opened.engine.close()


@pytest.fixture(scope="module")
def lines(company: Company) -> Table:
    return company.table("orderlines")


def plan(table: Table, apply: str, **options: str) -> Any:
    return plan_aggregate(table, parse_apply(apply), parse_query_options(options.items()), page_size=10, token=None)


# --- bad input: a clear InvalidQuery naming the culprit ------------------------------------------


@pytest.mark.parametrize(
    ("apply", "options", "culprit"),
    [
        ("groupby((Nope))", {}, "'Nope'"),
        ("groupby((ProductNo),aggregate(Nope with sum as T))", {}, "'Nope'"),
        ("groupby((ProductNo),aggregate(Description with sum as T))", {}, "'Description' with 'sum'"),
        ("aggregate(Description with average as T)", {}, "'Description' with 'average'"),
        ("groupby((ProductNo),aggregate(Quantity with sum as T,Quantity with max as t))", {}, "'t' is given twice"),
        ("groupby((ProductNo),aggregate(Quantity with sum as OrderNo))", {}, "'OrderNo' is the name of a property"),
        ("groupby((ProductNo),aggregate(Quantity with sum as ProdNo))", {}, "'ProdNo' is the name of a property"),
        ("groupby((ProductNo))/groupby((ProductNo))", {}, "one groupby or aggregate"),
        ("filter(OrderNo gt 1)", {}, "without groupby"),
        ("filter(Nope gt 1)/groupby((ProductNo))", {}, "'Nope'"),
        ("groupby((ProductNo))/filter(OrderNo gt 1)", {}, "'OrderNo'"),
        ("groupby((ProductNo))", {"$orderby": "OrderNo"}, "'OrderNo'"),
        ("groupby((ProductNo))", {"$filter": "OrderNo eq 1"}, "'OrderNo'"),
        ("groupby((ProductNo))", {"$select": "ProductNo"}, "$select"),
    ],
)
def test_bad_input_names_the_culprit(lines: Table, apply: str, options: dict[str, str], culprit: str) -> None:
    with pytest.raises(InvalidQuery) as caught:
        plan(lines, apply, **options)
    assert culprit in caught.value.message
    assert caught.value.status == 400


def test_methods_fit_the_kinds(lines: Table) -> None:
    applied = plan(
        lines,
        "groupby((ProductNo),aggregate(Description with min as A, TransactionDate with max as B, "
        "Description with countdistinct as C, Quantity with average as D, OrderNo with average as E))",
    )
    kinds = {column.name: (column.kind, column.domain) for column in applied.query.result.columns}
    assert kinds["A"] == ("string", None)
    assert kinds["B"] == ("integer", "date"), "a date's maximum is a date"
    assert kinds["C"][0] == "integer" and kinds["D"][0] == "decimal" and kinds["E"][0] == "decimal"


def test_a_token_of_another_shape_is_refused(lines: Table) -> None:
    with pytest.raises(InvalidSkipToken):
        plan_aggregate(
            lines, parse_apply("groupby((ProductNo))"), parse_query_options([]), page_size=5, token=PageToken((1, 2), 5)
        )


# --- end to end, both engines ------------------------------------------------------------------


def direct(demo_folder: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(demo_folder / "F9999.db") as db:
        return db.execute(sql).fetchall()


async def test_totals_per_product_equal_a_direct_group_by(company: Company, demo_folder: Path) -> None:
    groups, _ = await pull_groups(
        company, "orderlines", "groupby((ProductNo),aggregate(AmountInCurrency with sum as Total,$count as N))", {}, 97
    )
    expected = direct(demo_folder, "SELECT ProdNo, SUM(Am), COUNT(*) FROM OrdLn GROUP BY ProdNo ORDER BY ProdNo")
    assert [group["ProductNo"] for group in groups] == [row[0] for row in expected]
    assert [group["N"] for group in groups] == [row[2] for row in expected]
    for group, row in zip(groups, expected, strict=True):
        assert float(group["Total"]) == pytest.approx(row[1], rel=1e-9, abs=1e-6)


async def test_ordered_by_an_alias_filtered_and_topped(company: Company, demo_folder: Path) -> None:
    groups, counts = await pull_groups(
        company,
        "orderlines",
        "filter(OrderNo le 1500)/groupby((ProductNo),aggregate($count as N))/filter(N ge 2)",
        {"$orderby": "N desc", "$top": "250", "$count": "true", "$filter": "N le 9"},
        40,
    )
    expected = direct(
        demo_folder,
        "SELECT ProdNo, COUNT(*) AS N FROM OrdLn WHERE OrdNo <= 1500 GROUP BY ProdNo "
        "HAVING COUNT(*) BETWEEN 2 AND 9 ORDER BY N DESC, ProdNo",
    )
    assert [(group["ProductNo"], group["N"]) for group in groups] == expected[:250]
    assert set(counts) == {len(expected)}


async def test_aggregate_alone(company: Company, demo_folder: Path) -> None:
    groups, _ = await pull_groups(
        company, "orderlines", "aggregate(OrderNo with countdistinct as Orders, $count as Lines)", {}, 10
    )
    assert groups == [{"Orders": direct(demo_folder, "SELECT COUNT(DISTINCT OrdNo) FROM OrdLn")[0][0],
                       "Lines": direct(demo_folder, "SELECT COUNT(*) FROM OrdLn")[0][0]}]  # fmt: skip


async def test_a_condition_on_counts_pages_by_the_keys_descending(company: Company, demo_folder: Path) -> None:
    """The derived shape whose seek on the group key is tested before grouping, page after page."""
    groups, _ = await pull_groups(
        company,
        "orderlines",
        "groupby((ProductNo),aggregate($count as N))",
        {"$filter": "N ge 2", "$orderby": "ProductNo desc"},
        37,
    )
    expected = direct(
        demo_folder, "SELECT ProdNo, COUNT(*) FROM OrdLn GROUP BY ProdNo HAVING COUNT(*) >= 2 ORDER BY ProdNo DESC"
    )
    assert len(expected) > 37
    assert [(group["ProductNo"], group["N"]) for group in groups] == expected
