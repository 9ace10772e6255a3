"""Random filters, orderings and page sizes: the API's rows equal a pure-Python reference.

Every example also compiles the same request for SQL Server and parses it with sqlglot.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings, strategies as st

from redhorn.application import create_app
from redhorn.odata.parser import parse_query_options
from redhorn.query.paging import PageToken
from redhorn.query.plan import plan_list
from redhorn.settings import parse_settings
from redhorn.sql import MssqlDialect
from redhorn.sql.compiler import compile_count, compile_select
from redhorn.sql.select import CountQuery
from tests.conftest import DEMO_USER, settings_document
from tests.properties.probe import (
    COMPANY,
    KINDS,
    NULLABLE,
    SEGMENTS,
    TEXTS,
    Bool,
    Cmp,
    Func,
    InList,
    Like,
    Neg,
    Prop,
    build_probe_folder,
    evaluate,
    render,
    sort_rows,
)

PROPERTIES = list(KINDS)


class Probe:
    def __init__(self, client: httpx.AsyncClient, rows: list[dict[str, Any]], app: Any) -> None:
        self.client = client
        self.rows = rows
        self.app = app


@pytest.fixture(scope="module")
async def probe(tmp_path_factory: pytest.TempPathFactory, demo_folder: Path, engine: str) -> AsyncIterator[Probe]:
    folder = tmp_path_factory.mktemp("probe")
    rows = build_probe_folder(demo_folder, folder)
    document = settings_document(
        folder,
        engine,
        ApiUsers=[
            {"Username": DEMO_USER[0], "Password": DEMO_USER[1], "AccessibleCompanies": [{"CompanyNo": COMPANY}]}
        ],
    )
    app = create_app(parse_settings(json.dumps(document)), root=folder)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver", auth=DEMO_USER) as client:
            yield Probe(client, rows, app)


# --- strategies ------------------------------------------------------------------------------------

texts = st.one_of(st.sampled_from(TEXTS + [s for s in SEGMENTS if s]), st.text(alphabet="aAbB_%' ø", max_size=4))
integers = st.integers(-5, 25)
decimals = st.decimals(min_value=-60, max_value=510, places=2, allow_nan=False, allow_infinity=False)
OPERATORS = ["eq", "ne", "gt", "ge", "lt", "le"]


def literal_for(name: str) -> st.SearchStrategy[Any]:
    return {"int": integers, "dec": st.one_of(decimals, integers), "text": texts}[KINDS[name]]


@st.composite
def comparisons(draw: st.DrawFn) -> Any:
    name = draw(st.sampled_from(PROPERTIES))
    kind = KINDS[name]
    if kind == "text" and draw(st.booleans()):
        function = draw(st.sampled_from(["tolower", "toupper", "trim", "length"]))
        subject: Any = Func(function, Prop(name))
        value = draw(integers if function == "length" else texts)
    else:
        subject = Prop(name)
        value = None if name in NULLABLE and draw(st.integers(0, 4)) == 0 else draw(literal_for(name))
    op = draw(st.sampled_from(["eq", "ne"] if value is None else OPERATORS))
    return Cmp(op, value, subject) if draw(st.booleans()) and value is not None else Cmp(op, subject, value)


@st.composite
def likes(draw: st.DrawFn) -> Any:
    name = draw(st.sampled_from(["Nm", "Seg"]))
    subject: Any = Prop(name)
    if draw(st.booleans()):
        subject = Func(draw(st.sampled_from(["tolower", "toupper"])), subject)
    return Like(draw(st.sampled_from(["contains", "startswith", "endswith"])), subject, draw(texts))


@st.composite
def in_lists(draw: st.DrawFn) -> Any:
    name = draw(st.sampled_from(PROPERTIES))
    values = draw(st.lists(literal_for(name), min_size=1, max_size=4))
    if name in NULLABLE and draw(st.booleans()):
        values.append(None)
    return InList(Prop(name), tuple(values))


conditions = st.recursive(
    st.one_of(comparisons(), likes(), in_lists()),
    lambda inner: st.one_of(st.builds(Bool, st.sampled_from(["and", "or"]), inner, inner), st.builds(Neg, inner)),
    max_leaves=6,
)
orderings = st.lists(
    st.tuples(st.sampled_from(["Grp", "Amt", "Nm", "Seg", "Qty", "Id"]), st.booleans()),
    max_size=3,
    unique_by=lambda item: item[0],
)


def order_text(order: list[tuple[str, bool]]) -> str:
    return ",".join(f"{name} desc" if descending else name for name, descending in order)


async def pull(probe: Probe, params: dict[str, str], page_size: int) -> tuple[list[int], list[int]]:
    """Follow nextLinks to the end; returns the Ids seen and each page's `@odata.count`."""
    headers = {"Prefer": f"odata.maxpagesize={page_size}"}
    response = await probe.client.get(f"/api/{COMPANY}/probe", params=params, headers=headers)
    seen: list[int] = []
    counts: list[int] = []
    for _ in range(500):
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["value"]) <= page_size
        seen.extend(row["Id"] for row in body["value"])
        if "@odata.count" in body:
            counts.append(body["@odata.count"])
        link = body.get("@odata.nextLink")
        if link is None:
            return seen, counts
        assert body["value"], "a page that promises more is never empty"
        response = await probe.client.get(link, headers=headers)
    raise AssertionError("paging did not end")


def assert_mssql_parses(probe: Probe, params: dict[str, str], page_size: int) -> None:
    table = probe.app.state.redhorn.metadata.databases[f"F{COMPANY:04d}"].table("probe")
    options = parse_query_options(params.items())
    dialect = MssqlDialect()
    first = plan_list(table, options, page_size=page_size, token=None)
    statements = [compile_select(dialect, first.query), compile_count(dialect, CountQuery(table, first.query.where))]
    seek_values = tuple(probe.rows[0][entry.column.sql_name] for entry in first.query.order)
    later = plan_list(table, options, page_size=page_size, token=PageToken(seek_values, page_size))
    statements.append(compile_select(dialect, later.query))
    for statement in statements:
        sqlglot.parse_one(statement.sql, read="tsql")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    condition=st.one_of(st.none(), conditions),
    order=orderings,
    page_size=st.integers(1, 60),
    top=st.one_of(st.none(), st.integers(0, 300)),
    select=st.booleans(),
)
async def test_filtered_ordered_paged_reads_match_the_reference(probe: Probe, condition, order, page_size, top, select):
    params = {"$count": "true"}
    if condition is not None:
        params["$filter"] = render(condition)
    if order:
        params["$orderby"] = order_text(order)
    if top is not None:
        params["$top"] = str(top)
    if select:
        params["$select"] = "Id,Nm"
    expected = sort_rows([row for row in probe.rows if condition is None or evaluate(condition, row)], order)
    seen, counts = await pull(probe, params, page_size)
    wanted = [row["Id"] for row in expected][:top]
    assert seen == wanted, params
    assert set(counts) <= {len(expected)}, "the count is of the whole filtered set, on every page"
    assert len(set(seen)) == len(seen), "no row twice"
    assert_mssql_parses(probe, params, page_size)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(condition=conditions, order=orderings, skip=st.integers(0, 250), top=st.integers(0, 80))
async def test_skip_and_top_match_the_reference(probe: Probe, condition, order, skip, top):
    params = {"$filter": render(condition), "$skip": str(skip), "$top": str(top), "$count": "true"}
    if order:
        params["$orderby"] = order_text(order)
    expected = sort_rows([row for row in probe.rows if evaluate(condition, row)], order)
    response = await probe.client.get(f"/api/{COMPANY}/probe", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [row["Id"] for row in body["value"]] == [row["Id"] for row in expected][skip : skip + top]
    assert body["@odata.count"] == len(expected)
    assert "@odata.nextLink" not in body or len(body["value"]) == 1000


async def test_the_next_link_repeats_every_option(probe: Probe):
    params = {"$filter": "Grp ge 1", "$orderby": "Nm desc", "$select": "Id,Nm", "$count": "true", "$top": "30"}
    response = await probe.client.get(f"/api/{COMPANY}/probe", params=params, headers={"Prefer": "odata.maxpagesize=7"})
    link = response.json()["@odata.nextLink"]
    pairs = dict(parse_qsl(urlsplit(link).query))
    assert {name: pairs[name] for name in params} == params and "$skiptoken" in pairs


async def test_decimal_literals_compare_with_decimal_columns(probe: Probe):
    response = await probe.client.get(
        f"/api/{COMPANY}/probe", params={"$filter": "Amt gt 100.5 and Amt le 200", "$count": "true"}
    )
    assert response.status_code == 200, response.text
    expected = [row for row in probe.rows if Decimal("100.5") < Decimal(str(row["Amt"])) <= 200]
    assert response.json()["@odata.count"] == len(expected)
