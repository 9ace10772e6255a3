"""The T-SQL redhorn sends SQL Server for a representative set of requests, kept in a golden file.

Every statement must parse with sqlglot as T-SQL, and must equal the golden file, so that a change
to what SQL Server receives is seen in review. After an intended change, rewrite the file with
`REDHORN_UPDATE_GOLDEN=1 pytest tests/sql/test_tsql_golden.py` and read the diff.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import sqlglot

from redhorn.catalog.crawler import crawl
from redhorn.catalog.dictionary import load_dictionary
from redhorn.engines.sqlite import SqliteEngine
from redhorn.metadata import Metadata
from redhorn.odata.binder import bind_filter
from redhorn.odata.parser import parse_query_options
from redhorn.query.paging import PageToken
from redhorn.query.plan import plan_get
from redhorn.query.prepared import prepare_list
from redhorn.sql import MssqlDialect, Statement
from redhorn.sql.compiler import compile_count, compile_select
from redhorn.sql.select import CountQuery

GOLDEN = Path(__file__).parent / "golden" / "tsql.sql"
DIALECT = MssqlDialect()

# (label, database, resource, query string, seek values of the page before, or None)
LISTS: list[tuple[str, str, str, str, tuple[Any, ...] | None]] = [
    ("orders, first page", "F9999", "orders", "", None),
    ("orders, top and count", "F9999", "orders", "$top=5&$count=true", None),
    (
        "orders, two sort columns, skip and top",
        "F9999",
        "orders",
        "$orderby=OrderDate desc,Name&$skip=40&$top=20",
        None,
    ),
    (
        "orders, select and filter",
        "F9999",
        "orders",
        "$select=OrderNo,Name&$filter=CustomerNo eq 10042 and OrderDate ge 20260101",
        None,
    ),
    (
        "associates, LIKE with wildcards in the text, and a function",
        "F9999",
        "associates",
        "$filter=contains(Name,'50%_off') or startswith(tolower(Name),'nord')",
        None,
    ),
    ("associates, null on an extension column", "F9999", "associates", "$filter=ACME_Segment eq null", None),
    (
        "associates, ne on a nullable column, not, length",
        "F9999",
        "associates",
        "$filter=ACME_Segment ne 'Retail' and not (length(Name) gt 20)",
        None,
    ),
    (
        "order lines, in and a decimal order",
        "F9999",
        "orderlines",
        "$filter=OrderNo in (1, 2, 3) and AmountInCurrency gt 99.5&$orderby=AmountInCurrency desc",
        None,
    ),
    ("order lines, next page by the composite key", "F9999", "orderlines", "$select=OrderNo,LineNo", (1001, 2)),
    ("orders, next page sorted descending", "F9999", "orders", "$orderby=CustomerNo desc", (10042, 1234)),
    (
        "associates, next page after a NULL sorted descending",
        "F9999",
        "associates",
        "$orderby=ACME_Segment desc",
        (None, 77),
    ),
    (
        "associates, next page after a value, nullable ascending",
        "F9999",
        "associates",
        "$orderby=ACME_Segment",
        ("Retail", 77),
    ),
    ("companies in vbsys", "vbsys", "companies", "$select=CompanyNo,Name", None),
    (
        "orders, OData date literal and date functions",
        "F9999",
        "orders",
        "$select=OrderNo&$filter=OrderDate ge 2026-01-01 and year(OrderDate) eq 2026 and month(OrderDate) le 6",
        None,
    ),
    (
        "orders, now() on a date, substring, indexof, concat",
        "F9999",
        "orders",
        "$select=OrderNo&$filter=OrderDate le now() and substring(Name, 1, 3) eq 'ord' "
        "and indexof(Name, 'A') ge 0 and concat(Name, 'x') ne 'x'",
        None,
    ),
    (
        "order lines, arithmetic, rounding and division",
        "F9999",
        "orderlines",
        "$select=OrderNo,LineNo&$filter=round(AmountInCurrency) div 2 gt 10 and LineNo mod 2 eq 1 "
        "and -AmountInCurrency add 1 lt floor(AmountInCurrency) mul 2",
        None,
    ),
]

MSSQL_CATALOG, MSSQL_SCHEMA_VERSION = MssqlDialect().catalog_statements()


@pytest.fixture(scope="module")
async def metadata(demo_folder: Path) -> Metadata:
    engine = SqliteEngine(demo_folder)
    try:
        return await crawl(engine, load_dictionary())
    finally:
        await engine.close()


def statements(metadata: Metadata) -> list[tuple[str, Statement]]:
    found: list[tuple[str, Statement]] = []
    for label, database, resource, query, seek in LISTS:
        table = metadata.databases[database].table(resource)
        assert table is not None
        options = parse_query_options(parse_qsl(query, keep_blank_values=True))
        token = PageToken(seek, 100) if seek is not None else None
        prepared = prepare_list(DIALECT, table, options, page_size=100, token=token)
        found.append((f"{resource}?{query} -- {label}", prepared.statement))
        if prepared.count_statement is not None:
            found.append((f"{resource}?{query} -- the count", prepared.count_statement))
    lines = metadata.databases["F9999"].table("orderlines")
    assert lines is not None
    found.append(
        (
            "orderlines/1001/2 -- one row by its composite key",
            compile_select(DIALECT, plan_get(lines, ["1001", "2"], None)),
        )
    )
    orders = metadata.databases["F9999"].table("orders")
    assert orders is not None
    where = bind_filter(parse_query_options([("$filter", "startswith(Name,'A') and OrderType eq 1")]).filter, orders)  # type: ignore[arg-type]
    found.append(
        (
            "orders/$count?$filter=startswith(Name,'A') and OrderType eq 1",
            compile_count(DIALECT, CountQuery(orders, where)),
        )
    )
    found.append(("catalog crawl: tables, columns, types, primary keys", MSSQL_CATALOG))
    found.append(("catalog crawl: schema version", MSSQL_SCHEMA_VERSION))
    found.append(("health: ping", Statement(DIALECT.ping_sql)))
    return found


def _param(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def render(found: list[tuple[str, Statement]]) -> str:
    blocks = []
    for label, statement in found:
        params = json.dumps([_param(p) for p in statement.params], ensure_ascii=False)
        blocks.append(f"-- {label}\n-- params: {params}\n{statement.sql};")
    return "\n\n".join(blocks) + "\n"


def test_every_statement_parses_as_tsql(metadata: Metadata):
    found = statements(metadata)
    assert len(found) >= 18
    for label, statement in found:
        parsed = sqlglot.parse_one(statement.sql, read="tsql")
        assert parsed is not None, label
        assert statement.sql.count("?") == len(statement.params), label


def test_the_tsql_matches_the_golden_file(metadata: Metadata):
    text = render(statements(metadata))
    if os.environ.get("REDHORN_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text)
    assert GOLDEN.read_text() == text, "the T-SQL changed: see the module docstring to update the golden file"


def test_the_golden_file_parses_on_its_own():
    """Each block of the file as a reviewer reads it is valid T-SQL too."""
    blocks = GOLDEN.read_text().strip().split("\n\n")
    for block in blocks:
        sql = "\n".join(line for line in block.splitlines() if not line.startswith("--")).rstrip(";")
        sqlglot.parse_one(sql, read="tsql")
