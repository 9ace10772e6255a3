"""The pure parts of the OData service: set names, the CSDL document, key predicates and typed values."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from redhorn.errors import InvalidKey, RouteNotFound
from redhorn.metadata import Column, Database, Table
from redhorn.odata import parser
from redhorn.odata.csdl import csdl_json, csdl_xml, entity_set_name, served_tables
from redhorn.odata.keys import ResourcePath, key_values, parse_resource_path
from redhorn.odata.values import binary_text, date_text, datetime_text, edm_type, time_text
from tests.odata_service.test_odata_openapi import synthetic_company

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
NUMBER = Column("OrdNo", "OrderNo", "integer", "int", number=2868)
LINE = Column("LnNo", "LineNo", "integer", "int")
TEXT = Column("ProdNo", "ProductNo", "string", "varchar(40)", max_length=40)


def table(name: str, resource: str, key: tuple[Column, ...] = (NUMBER,), columns: tuple[Column, ...] = ()) -> Table:
    return Table(name.upper(), name, resource, columns or key, key)


@pytest.mark.parametrize(
    ("name", "resource", "expected"),
    [
        ("Order", "orders", "Orders"),
        ("OrderLine", "orderlines", "OrderLines"),
        ("PriceAndDiscountMatrix", "priceanddiscountmatrices", "PriceAndDiscountMatrices"),
        ("CustomerView", "customers", "Customers"),
        ("ACME_DelRoute", "acme_delroute", "ACME_DelRoute"),
        ("Batch", "batches", "Batches"),
    ],
)
def test_entity_sets_are_the_resources_with_the_tables_capitals(name: str, resource: str, expected: str):
    assert entity_set_name(table(name, resource)) == expected
    assert expected.lower() == resource  # so the set resolves as the resource does, in any letter case


def test_tables_without_a_key_or_with_names_odata_cannot_carry_are_left_out():
    keyless = Table("V", "Report", "reports", (NUMBER,), ())
    odd = Table("X", "Odd", "odds", (Column("A B", "A B", "integer", "int"),), (NUMBER,))
    database = Database("F1", (table("Order", "orders"), keyless, odd))
    assert [t.name for t in served_tables(database)] == ["Order"]
    assert b"Report" not in csdl_xml(database) and "Report" not in csdl_json(database)["Visma.Business"]


def test_filter_functions_are_read_from_the_parser_when_the_document_is_built(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(parser.FUNCTIONS, "futurefunction", 1)
    database = Database("F1", (table("Order", "orders"),))
    assert b"<String>futurefunction</String>" in csdl_xml(database)
    json_functions = csdl_json(database)["Visma.Business"]["Container"]["@Org.OData.Capabilities.V1.FilterFunctions"]
    assert json_functions == list(parser.FUNCTIONS)


def test_descriptions_are_escaped_and_the_xml_is_well_formed():
    document = csdl_xml(synthetic_company(3, 12))
    root = ET.fromstring(document)
    described = root.find(f".//{EDM}Property[@Name='Column5']/{EDM}Annotation")
    assert described is not None
    assert described.get("String") == "Column5 (column 5); Kind <&\"'>: 1 = First & <best>, 2 = Second"


def test_a_350_table_company_has_every_set_and_property_in_both_forms():
    """Its build time is measured by `make bench` (section odata-metadata), not here."""
    company = synthetic_company()
    root = ET.fromstring(csdl_xml(company))
    assert len(root.findall(f".//{EDM}EntitySet")) == 350
    assert len(root.findall(f".//{EDM}EntityType/{EDM}Property")) == 350 * 40
    schemas = [value for key, value in csdl_json(company).items() if not key.startswith("$")]
    members = [member for schema in schemas for member in schema.values() if isinstance(member, dict)]
    types = [member for member in members if member.get("$Kind") == "EntityType"]
    containers = [member for member in members if member.get("$Kind") == "EntityContainer"]
    assert len(types) == 350
    assert all(len([name for name in t if name[0] not in "$@"]) == 40 for t in types)
    assert len(containers) == 1 and len([name for name in containers[0] if name[0] not in "$@"]) == 350


@pytest.mark.parametrize(
    ("column", "edm"),
    [
        (Column("D", "D", "integer", "int", domain="date"), "Edm.Date"),
        (Column("T", "T", "integer", "smallint", domain="time"), "Edm.TimeOfDay"),
        (Column("N", "N", "integer", "int"), "Edm.Int32"),
        (Column("N", "N", "integer", "bigint"), "Edm.Int64"),
        (Column("A", "A", "decimal", "decimal(28,6)"), "Edm.Decimal"),
        (Column("B", "B", "binary", "varbinary"), "Edm.Binary"),
        (Column("F", "F", "boolean", "bit"), "Edm.Boolean"),
    ],
)
def test_types_follow_the_column(column: Column, edm: str):
    assert edm_type(column) == edm


def test_a_date_or_time_key_keeps_its_stored_type():
    assert edm_type(Column("D", "D", "integer", "int", domain="date"), key=True) == "Edm.Int32"


@pytest.mark.parametrize(
    ("stored", "shown"),
    [(20260131, "2026-01-31"), (0, None), (None, None), (20260231, None), (20261301, None), (-1, None), (True, None)],
)
def test_dates(stored: object, shown: str | None):
    assert date_text(stored) == shown


@pytest.mark.parametrize(("stored", "shown"), [(1430, "14:30:00"), (0, "00:00:00"), (2460, None), (None, None)])
def test_times(stored: object, shown: str | None):
    assert time_text(stored) == shown


def test_binary_is_base64url_and_timestamps_carry_an_offset():
    assert binary_text(b"\xfb\xff") == "-_8="
    assert binary_text("+/8=") == "-_8="
    assert datetime_text("2026-01-31 10:00:00") == "2026-01-31T10:00:00Z"


@pytest.mark.parametrize(
    ("path", "parsed"),
    [
        ("Orders", ResourcePath("Orders")),
        ("Orders/", ResourcePath("Orders")),
        ("Orders/$count", ResourcePath("Orders", count=True)),
        ("Orders(1001)", ResourcePath("Orders", key="1001")),
        ("Items('a)b''c')", ResourcePath("Items", key="'a)b''c'")),
    ],
)
def test_resource_paths(path: str, parsed: ResourcePath):
    assert parse_resource_path(path) == parsed


@pytest.mark.parametrize("path", ["", "$batch", "Orders/Name", "Orders(1)/Name", "9Orders"])
def test_paths_that_address_nothing_served_are_not_found(path: str):
    with pytest.raises(RouteNotFound):
        parse_resource_path(path)


@pytest.mark.parametrize("path", ["Orders(1", "Orders('a)", "Orders((1))"])
def test_unclosed_keys_are_invalid(path: str):
    with pytest.raises(InvalidKey):
        parse_resource_path(path)


def test_key_values_by_position_and_by_name():
    lines = table("OrderLine", "orderlines", (NUMBER, LINE))
    assert key_values(table("Order", "orders"), "1001", "Orders") == (1001,)
    assert key_values(table("Order", "orders"), "OrderNo=1001", "Orders") == (1001,)
    assert key_values(lines, "LineNo=2, OrderNo=1001", "OrderLines") == (1001, 2)
    assert key_values(table("Product", "products", (TEXT,)), "'A''B'", "Products") == ("A'B",)
    amount = Column("Am", "Amount", "decimal", "decimal(28,6)")
    assert key_values(table("X", "xs", (amount,)), "1.50", "Xs") == (Decimal("1.50"),)


@pytest.mark.parametrize(
    "predicate",
    ["", "abc", "'1'", "1,2", "OrderNo=1,OrderNo=1", "Nope=1", "OrderNo", "1e400", "-" + "9" * 30],
)
def test_bad_keys_are_invalid(predicate: str):
    with pytest.raises(InvalidKey):
        key_values(table("Order", "orders"), predicate, "Orders")


@pytest.mark.parametrize("predicate", ["1", "'" + "x" * 41 + "'", "'a'b'", "x'"])
def test_bad_string_keys_are_invalid(predicate: str):
    with pytest.raises(InvalidKey):
        key_values(table("Product", "products", (TEXT,)), predicate, "Products")
