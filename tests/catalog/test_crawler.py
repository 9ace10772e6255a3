from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlglot

from redhorn.catalog.crawler import build_database, catalog_columns, crawl
from redhorn.catalog.dictionary import load_dictionary
from redhorn.engines.sqlite import SqliteEngine
from redhorn.sql.mssql import MssqlDialect

MSSQL_CATALOG, MSSQL_SCHEMA_VERSION = MssqlDialect().catalog_statements()


@pytest.fixture(scope="module")
async def metadata(demo_folder: Path):
    engine = SqliteEngine(demo_folder)
    try:
        yield await crawl(engine, load_dictionary())
    finally:
        await engine.close()


def test_the_dictionary_covers_the_required_tables():
    dictionary = load_dictionary()
    resources = {t.resource for kind in ("company", "vbsys", "catalog") for t in dictionary.tables(kind)}
    assert len(resources) >= 25
    for resource in (
        "associates",
        "orders",
        "orderlines",
        "products",
        "stockbalances",
        "currencies",
        "units",
        "texts",
        "priceanddiscountmatrices",
        "generalledgertransactions",
        "customertransactions",
        "suppliertransactions",
        "employees",
        "orgunit2s",
        "accountnoseries",
        "companies",
    ):
        assert resource in resources
    numbers = [c.no for kind in ("company", "vbsys") for t in dictionary.tables(kind) for c in t.columns if c.no]
    assert len(numbers) == len(set(numbers)), "column numbers are unique across the model"
    associate = dictionary.table("company", "Actor")
    assert associate is not None and associate.table_no == 152
    customer_no = associate.column("CustNo")
    assert customer_no is not None and (customer_no.name, customer_no.no) == ("CustomerNo", 4045)


async def test_crawl_merges_catalog_and_dictionary(metadata):
    assert set(metadata.databases) == {"vbsys", "Catalog", "F9999", "F0001"}
    assert {c.number: c.database for c in metadata.companies.values()} == {9999: "F9999", 1: "F0001"}
    company = metadata.databases["F9999"]
    orders = company.table("ORDERS")
    assert orders is not None and orders.sql_name == "Ord" and orders.name == "Order"
    assert [c.name for c in orders.key] == ["OrderNo"]
    customer = orders.column("customerno")
    assert customer is not None and customer.sql_name == "CustNo" and customer.kind == "integer"
    lines = company.table("orderlines")
    assert lines is not None and [c.name for c in lines.key] == ["OrderNo", "LineNo"]
    quantity = lines.column("Quantity")
    assert quantity is not None and (quantity.kind, quantity.precision, quantity.scale) == ("decimal", 28, 6)
    name = orders.column("Name")
    assert name is not None and (name.kind, name.max_length, name.nullable) == ("string", 80, False)
    associates = company.table("associates")
    assert associates is not None and associates.column("AssociateNo").number == 4028


async def test_extensions_and_views_are_exposed(metadata):
    company = metadata.databases["F9999"]
    route = company.table("acme_delroute")
    assert route is not None and not route.known and route.name == "ACME_DelRoute"
    assert [c.name for c in route.key] == ["RouteNo"]
    segment = company.table("associates").column("ACME_Segment")
    assert segment is not None and not segment.known and segment.nullable
    employees = company.table("employees")
    assert employees is not None and employees.is_view and [c.name for c in employees.key] == ["AssociateNo"]


def test_unknown_table_with_a_dictionary_resource_name_is_renamed():
    rows = [
        ("Orders", False, "Id", "INTEGER", None, None, None, False, 1),
        ("Ord", False, "OrdNo", "INT", None, None, None, False, 1),
    ]
    database = build_database("F1", "company", catalog_columns(rows), load_dictionary())
    assert database.table("orders").sql_name == "Ord"  # type: ignore[union-attr]
    assert database.table("sql_orders").sql_name == "Orders"  # type: ignore[union-attr]


def test_sql_server_catalog_queries_are_tsql():
    for statement in (MSSQL_CATALOG, MSSQL_SCHEMA_VERSION):
        sqlglot.parse_one(statement.sql, read="tsql")
    assert "sys.index_columns" in MSSQL_CATALOG.sql and "sys.types" in MSSQL_CATALOG.sql


def test_sql_server_catalog_rows_map_to_types():
    rows = [
        ("Ord", 0, "OrdNo", "int", 4, 10, 0, 0, 1),
        ("Ord", 0, "Nm", "nvarchar", 80, 0, 0, 0, 0),
        ("Ord", 0, "Am", "decimal", 17, 28, 6, 0, 0),
        ("Ord", 0, "Blob", "varbinary", -1, 0, 0, 1, 0),
        ("Ord", 0, "Stamp", "datetime", 8, 23, 3, 1, 0),
        ("Ord", 0, "Flag", "bit", 1, 1, 0, 0, 0),
    ]
    table = build_database("F1", "company", catalog_columns(rows), load_dictionary()).table("orders")
    assert table is not None
    kinds = {c.sql_name: (c.kind, c.max_length, c.scale) for c in table.columns}
    assert kinds == {
        "OrdNo": ("integer", None, 0),
        "Nm": ("string", 80, 0),
        "Am": ("decimal", None, 6),
        "Blob": ("binary", None, 0),
        "Stamp": ("datetime", None, 3),
        "Flag": ("boolean", None, 0),
    }


async def test_a_missing_company_database_is_left_out_with_a_warning(tmp_path: Path, demo_folder: Path, caplog):
    for name in ("vbsys.db", "Catalog.db", "F0001.db"):
        (tmp_path / name).write_bytes((demo_folder / name).read_bytes())
    engine = SqliteEngine(tmp_path)
    try:
        metadata = await crawl(engine, load_dictionary())
    finally:
        await engine.close()
    assert "F9999" not in metadata.databases and 9999 in metadata.companies
    assert "'F9999' is unavailable" in caplog.text


def test_demo_data_is_shaped_like_visma(company_db: Path):
    with sqlite3.connect(company_db) as connection:
        assert connection.execute("SELECT COUNT(*) FROM Ord").fetchone()[0] == 2000
        assert connection.execute("SELECT COUNT(*) FROM OrdLn").fetchone()[0] == 10000
        dates = connection.execute("SELECT MIN(OrdDt), MAX(OrdDt) FROM Ord").fetchone()
        assert 20000101 < dates[0] <= dates[1] < 20300101
        assert connection.execute("SELECT COUNT(*) FROM Ord WHERE Inf = '' AND Gr = 0").fetchone()[0] == 2000
        nulls = connection.execute("SELECT COUNT(*) FROM OrdLn WHERE ProdNo IS NULL OR Am IS NULL").fetchone()[0]
        assert nulls == 0
        assert connection.execute("SELECT COUNT(*) FROM OrdLn WHERE TrDt = 0").fetchone()[0] > 0
        mismatched = connection.execute(
            "SELECT COUNT(*) FROM Ord o JOIN Actor a ON a.CustNo = o.CustNo WHERE o.CustNo <> 0 AND o.Nm <> a.Nm"
        ).fetchone()[0]
        assert mismatched == 0
