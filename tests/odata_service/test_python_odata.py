"""The OData service read by `python-odata`, a client nobody here wrote, against a live server over TLS:
it reflects `$metadata`, lists the entity sets, pulls a whole set through `@odata.nextLink`s,
filters and reads by key, and what it reads equals a direct query of the SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from odata import ODataService
from odata.property import DecimalProperty, IntegerProperty, StringProperty

from redhorn.catalog.crawler import crawl_database
from redhorn.catalog.dictionary import load_dictionary
from redhorn.engines.sqlite import SqliteEngine
from redhorn.metadata import Column, Database, Table
from tests.conftest import DEMO_USER, Server
from tests.odata_service.conftest import PAGE_SIZE

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def service(odata_server: Server) -> Iterator[ODataService]:
    session = requests.Session()
    session.verify = str(odata_server.certificate)
    session.trust_env = False  # else REQUESTS_CA_BUNDLE, where set, replaces `verify` on every request
    yield ODataService(
        f"{odata_server.base_url}/odata/9999/",
        session=session,
        auth=requests.auth.HTTPBasicAuth(*DEMO_USER),
        reflect_entities=True,
        quiet_progress=True,
    )
    session.close()


@pytest.fixture(scope="module")
def company(demo_folder: Path) -> Database:
    """The demo company as the crawler sees it: what maps the SQLite file's columns to properties."""

    async def crawl() -> Database:
        engine = SqliteEngine(demo_folder)
        try:
            return await crawl_database(engine, "F9999", "company", load_dictionary())
        finally:
            await engine.close()

    return asyncio.run(crawl())


def expected(column: Column, stored: Any, key: bool) -> Any:
    """What OData shows of a stored value, written out here from the rules, not from the server's code."""
    if column.domain == "date" and not key:
        return None if not stored else f"{stored // 10000:04d}-{stored // 100 % 100:02d}-{stored % 100:02d}"
    if column.domain == "time" and not key:
        return f"{stored // 100:02d}:{stored % 100:02d}:00"
    if column.kind == "decimal":
        return round(float(stored), 6)
    return stored


def shown(value: Any) -> Any:
    return round(float(value), 6) if isinstance(value, Decimal) else value


def sqlite_rows(demo_folder: Path, table: Table, where: str = "", *params: Any) -> list[dict[str, Any]]:
    """The table's rows read straight from the file, in key order, as OData should show them.

    `where` names properties in braces (`{OrderNo} = ?`), put in as their SQL names.
    """
    keys = {column.sql_name for column in table.key}
    names = ", ".join(f'"{column.sql_name}"' for column in table.columns)
    order = ", ".join(f'"{column.sql_name}"' for column in table.key)
    condition = where.format(**{column.name: f'"{column.sql_name}"' for column in table.columns})
    with sqlite3.connect(f"file:{demo_folder / 'F9999.db'}?mode=ro", uri=True) as connection:
        rows = connection.execute(
            f'SELECT {names} FROM "{table.sql_name}" {condition} ORDER BY {order}', params
        ).fetchall()
    return [
        {
            column.name: expected(column, value, column.sql_name in keys)
            for column, value in zip(table.columns, row, strict=True)
        }
        for row in rows
    ]


def client_rows(entities: list[Any], table: Table) -> list[dict[str, Any]]:
    return [{column.name: shown(getattr(entity, column.name)) for column in table.columns} for entity in entities]


def test_python_odata_reflects_every_entity_set_of_the_service_document(service: ODataService, odata_server: Server):
    with odata_server.client() as client:
        document = client.get("/odata/9999/").json()
    assert set(service.entities) == {entry["name"] for entry in document["value"]}
    assert {"Orders", "OrderLines", "Associates", "Products", "PriceAndDiscountMatrices"} <= set(service.entities)
    order = service.entities["Orders"]
    assert isinstance(order.OrderNo, IntegerProperty) and order.OrderNo.primary_key
    assert isinstance(order.Name, StringProperty)
    line = service.entities["OrderLines"]
    assert line.OrderNo.primary_key and line.LineNo.primary_key and not line.ProductNo.primary_key
    assert isinstance(line.Quantity, DecimalProperty)


def test_python_odata_pulls_every_order_through_next_links_and_they_equal_the_sqlite_file(
    service: ODataService, company: Database, demo_folder: Path
):
    table = company.table("orders")
    assert table is not None
    orders = service.query(service.entities["Orders"]).order_by(service.entities["Orders"].OrderNo.asc()).all()
    expected_rows = sqlite_rows(demo_folder, table)
    assert len(expected_rows) > 2 * PAGE_SIZE  # three pages at least: two nextLinks followed
    assert client_rows(orders, table) == expected_rows


def test_python_odata_filters_as_the_sqlite_file_does(service: ODataService, company: Database, demo_folder: Path):
    table = company.table("orderlines")
    assert table is not None
    lines = service.entities["OrderLines"]
    found = service.query(lines).filter(lines.OrderNo == 1001).all()
    assert found and client_rows(found, table) == sqlite_rows(demo_folder, table, "WHERE {OrderNo} = ?", 1001)
    product = found[0].ProductNo
    by_product = service.query(lines).filter(lines.ProductNo == product).filter(lines.Quantity > 1).all()
    wanted = sqlite_rows(demo_folder, table, "WHERE {ProductNo} = ? AND {Quantity} > 1", product)
    assert by_product and client_rows(by_product, table) == wanted


def test_python_odata_reads_by_key_in_odata_syntax(service: ODataService, company: Database, demo_folder: Path):
    orders, lines = service.entities["Orders"], service.entities["OrderLines"]
    order = service.query(orders).filter(orders.OrderNo == 1001).one()
    connection = service.default_context.connection
    by_key = connection.execute_get(order.__odata__.instance_url)  # .../Orders(1001)
    assert by_key["@odata.context"].endswith("$metadata#Orders/$entity")
    assert by_key["OrderNo"] == 1001 and by_key["Name"] == order.Name
    line = service.query(lines).get(OrderNo=1001, LineNo=2)  # python-odata's own get: a $filter on both keys
    url = line.__odata__.instance_url  # .../OrderLines(LineNo=2,OrderNo=1001): named, in its own order
    assert "LineNo=2" in url and "OrderNo=1001" in url
    table = company.table("orderlines")
    assert table is not None
    row = connection.execute_get(url)
    wanted = sqlite_rows(demo_folder, table, "WHERE {OrderNo} = ? AND {LineNo} = ?", 1001, 2)
    assert [{name: shown(row[name]) for name in wanted[0]}] == wanted
