"""`$expand` and `$apply` in the OpenAPI document: per resource, from the navigations the server
expands, with examples the server answers, and expanded rows the row schemas describe."""

from __future__ import annotations

import re
from typing import Any

import httpx
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from redhorn.metadata import Column, Company, Database, Metadata, Relation, Table
from redhorn.openapi.document import build_openapi
from redhorn.openapi.navigation import apply_example
from tests.openapi.test_document import fetch_document, parameters_of

DOCUMENT_URI = "urn:redhorn:openapi"
LIST_ORDERS = "/api/{companyNo}/orders"
GET_ORDER = "/api/{companyNo}/orders/{OrderNo}"
LIST_LINES = "/api/{companyNo}/orderlines"
GET_LINE = "/api/{companyNo}/orderlines/{OrderNo}/{LineNo}"
# A navigation in the `$expand` description: `Name` (resource).
_LISTED = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)` \(([^)]+)\)")


def parameter(document: dict[str, Any], path: str, name: str) -> dict[str, Any] | None:
    """The GET operation's parameter called `name`, resolved; None when it has none."""
    found = [p for p in parameters_of(document, document["paths"][path]["get"]) if p["name"] == name]
    return found[0] if found else None


def listed(description: str, kind: str) -> dict[str, str]:
    """The navigations the `$expand` description lists under `kind` ("To-one" or "To-many"), with their resources."""
    for paragraph in description.split("\n\n"):
        if paragraph.startswith(kind):
            return dict(_LISTED.findall(paragraph.split(":", 1)[1]))
    return {}


def navigation_properties(document: dict[str, Any], schema: str) -> dict[str, dict[str, Any]]:
    """The properties of a row schema that are navigations (they name their target)."""
    properties = document["components"]["schemas"][schema]["properties"]
    return {name: value for name, value in properties.items() if "x-target" in value}


def validator(document: dict[str, Any], schema: str) -> Any:
    """An OpenAPI 3.1 schema validator of `schema`, a component of `document`, its references resolved in it."""
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    return OAS31Validator({"$ref": f"{DOCUMENT_URI}#/components/schemas/{schema}"}, registry=registry)


async def test_orders_and_order_lines_document_expand_with_their_navigations(client: httpx.AsyncClient):
    document = await fetch_document(client, "?company=9999")
    for path in (LIST_ORDERS, GET_ORDER):
        expand = parameter(document, path, "$expand")
        assert expand is not None and expand["in"] == "query" and expand["schema"]["type"] == "string", path
        ones, manies = listed(expand["description"], "To-one"), listed(expand["description"], "To-many")
        assert ones["Customer"] == "associates" and ones["Currency"] == "currencies"
        assert manies["OrderLines"] == "orderlines" and "Customer" not in manies
        # Exactly the row schema's navigations, each under its kind.
        navigations = navigation_properties(document, "Order")
        assert set(ones) | set(manies) == set(navigations)
        assert all(("items" in navigations[name]) == (name in manies) for name in navigations)
    for path in (LIST_LINES, GET_LINE):
        expand = parameter(document, path, "$expand")
        assert expand is not None
        ones = listed(expand["description"], "To-one")
        assert ones["Order"] == "orders" and ones["Product"] == "products"


async def test_row_schemas_carry_expanded_navigations_as_optional_properties(client: httpx.AsyncClient):
    document = await fetch_document(client, "?company=9999")
    order = document["components"]["schemas"]["Order"]
    assert "required" not in order
    lines = order["properties"]["OrderLines"]
    assert (
        lines["type"] == "array" and lines["x-target"] == "OrderLine" and "$expand=OrderLines" in lines["description"]
    )
    assert lines["items"] == {"$ref": "#/components/schemas/ExpandedRow"}
    customer = order["properties"]["Customer"]
    assert customer["x-target"] == "Associate" and {"type": "null"} in customer["anyOf"]
    assert navigation_properties(document, "OrderLine")["Order"]["x-target"] == "Order"
    assert document["components"]["schemas"]["ExpandedRow"]["type"] == "object"
    # Every target is a row schema of the document.
    schemas = document["components"]["schemas"]
    for name, schema in schemas.items():
        for navigation in schema.get("properties", {}).values():
            if "x-target" in navigation:
                assert navigation["x-target"] in schemas, name


async def test_a_resource_without_navigations_has_no_expand_but_has_apply(client: httpx.AsyncClient):
    document = await fetch_document(client, "?company=9999")
    assert parameter(document, "/api/vbsys/companies", "$expand") is None
    assert parameter(document, "/api/vbsys/companies", "$apply") is not None
    without = 0
    for path, item in document["paths"].items():
        if not path.startswith("/api/{companyNo}/") or path.endswith("$count") or path.count("/") != 3:
            continue
        schema = item["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        navigations = navigation_properties(document, schema.removesuffix("Page"))
        assert (parameter(document, path, "$expand") is not None) == bool(navigations), path
        assert parameter(document, path, "$apply") is not None, path
        without += not navigations
    assert without > 0  # the demo has tables no relation reaches


async def test_apply_is_documented_on_list_operations_only(client: httpx.AsyncClient):
    document = await fetch_document(client, "?company=9999")
    applied = parameter(document, LIST_ORDERS, "$apply")
    assert applied is not None and applied["schema"]["type"] == "string"
    assert "groupby" in applied["description"] and "countdistinct" in applied["description"]
    example = applied["schema"]["examples"][0]
    assert example.startswith("groupby((") and " with sum as " in example and "$count as " in example
    assert f"`{example}`" in applied["description"]
    assert parameter(document, GET_ORDER, "$apply") is None
    assert parameter(document, "/api/{companyNo}/orders/$count", "$apply") is None


async def test_the_documented_apply_examples_answer_200(client: httpx.AsyncClient):
    document = await fetch_document(client, "?company=9999")
    for resource, path in (("orders", LIST_ORDERS), ("orderlines", LIST_LINES), ("associates", None)):
        applied = parameter(document, path or f"/api/{{companyNo}}/{resource}", "$apply")
        assert applied is not None
        example = applied["schema"]["examples"][0]
        response = await client.get(f"/api/9999/{resource}", params={"$apply": example, "$top": "3"})
        assert response.status_code == 200, (resource, example, response.text)
        rows = response.json()["value"]
        assert rows, (resource, example)
        aliases = re.findall(r" as ([A-Za-z_][A-Za-z0-9_]*)", example)
        group = re.match(r"groupby\(\(([A-Za-z0-9_]+)\)", example)
        assert all(set(aliases) <= set(row) for row in rows)
        assert group is None or all(group.group(1) in row for row in rows)


async def test_the_documented_expand_examples_answer_rows_the_schemas_describe(client: httpx.AsyncClient):
    document = await fetch_document(client, "?company=9999")
    for resource, list_path, key_path, schema in (
        ("orders", LIST_ORDERS, GET_ORDER, "Order"),
        ("orderlines", LIST_LINES, GET_LINE, "OrderLine"),
    ):
        expand = parameter(document, list_path, "$expand")
        assert expand is not None
        example = expand["schema"]["examples"][0]
        page = await client.get(f"/api/9999/{resource}", params={"$expand": example, "$top": "2"})
        assert page.status_code == 200, (resource, example, page.text)
        validator(document, f"{schema}Page").validate(page.json())
        names = example.replace("($top=5)", "").split(",")
        assert all(set(names) <= set(row) for row in page.json()["value"])
        first = page.json()["value"][0]
        key = "/".join(str(first[name]) for name in document["components"]["schemas"][schema]["x-key"])
        one = await client.get(f"/api/9999/{resource}/{key}", params={"$expand": example})
        assert one.status_code == 200, (key_path, one.text)
        validator(document, schema).validate(one.json())
    lines = await client.get("/api/9999/orders", params={"$expand": "OrderLines($top=2),Customer", "$top": "3"})
    assert lines.status_code == 200
    validator(document, "OrderPage").validate(lines.json())
    # The check has teeth: a to-many navigation must be an array, a to-one one an object or null.
    assert not validator(document, "OrderPage").is_valid({"value": [{"OrderLines": {}}]})
    assert not validator(document, "Order").is_valid({"Customer": [1]})
    assert any(row["OrderLines"] for row in lines.json()["value"])


async def test_every_documented_example_of_every_resource_answers_200(client: httpx.AsyncClient):
    """The examples are made from each table's columns and navigations: none may name what the server refuses."""
    document = await fetch_document(client, "?company=9999")
    failed = []
    tried = 0
    for path in document["paths"]:
        if not path.startswith("/api/{companyNo}/") or path.count("/") != 3 or path.endswith("$count"):
            continue
        for name in ("$apply", "$expand"):
            found = parameter(document, path, name)
            if found is None:
                continue
            example = found["schema"]["examples"][0]
            response = await client.get(path.replace("{companyNo}", "9999"), params={name: example, "$top": "2"})
            tried += 1
            if response.status_code != 200:
                failed.append((path, name, example, response.status_code, response.text[:200]))
    assert not failed, failed
    assert tried > 500


# ----------------------------------------------------------------------------- from metadata by hand

ORDER_NO = Column("OrdNo", "OrderNo", "integer", "int")
CUSTOMER_NO = Column("CustNo", "CustomerNo", "integer", "int")
AMOUNT = Column("Am", "Amount", "decimal", "decimal(28,6)", scale=6)
TOTAL = Column("Tot", "Total", "decimal", "decimal(28,6)", scale=6)
NAME = Column("Nm", "Name", "string", "nvarchar(80)", max_length=80)
PICTURE = Column("Pic", "Picture", "binary", "varbinary(max)")
CUSTOMERS = Table("Cust", "Customer", "customers", (CUSTOMER_NO, NAME), (CUSTOMER_NO,))
ORDERS = Table(
    "Ord",
    "Order",
    "orders",
    (ORDER_NO, CUSTOMER_NO, AMOUNT),
    (ORDER_NO,),
    relations=(Relation("Customer", "Customer", (("CustomerNo", "CustomerNo"),)),),
)
LONELY = Table("Lon", "Lonely", "lonelies", (ORDER_NO, NAME), (ORDER_NO,))


def built() -> dict[str, Any]:
    database = Database("F0001", (CUSTOMERS, ORDERS, LONELY))
    metadata = Metadata({"F0001": database}, {1: Company(1, "Test", "F0001")})
    return build_openapi(metadata, 1, version="test")


def test_both_ends_of_a_relation_get_expand_and_a_table_outside_none():
    document = built()
    validate(document)
    order_expand = parameter(document, "/api/{companyNo}/orders", "$expand")
    customer_expand = parameter(document, "/api/{companyNo}/customers/{CustomerNo}", "$expand")
    assert order_expand is not None and listed(order_expand["description"], "To-one") == {"Customer": "customers"}
    assert order_expand["schema"]["examples"] == ["Customer"]
    assert customer_expand is not None and listed(customer_expand["description"], "To-many") == {"Orders": "orders"}
    assert parameter(document, "/api/{companyNo}/lonelies", "$expand") is None
    assert navigation_properties(document, "Lonely") == {}
    assert navigation_properties(document, "Customer")["Orders"]["x-target"] == "Order"


def test_the_apply_example_groups_by_the_first_non_key_column_and_sums_a_decimal():
    assert apply_example(ORDERS) == "groupby((CustomerNo),aggregate(Amount with sum as Total,$count as Count))"
    assert apply_example(LONELY) == "groupby((Name),aggregate($count as Count))"


def test_the_apply_example_aliases_name_no_property_and_skip_binary_columns():
    with_total = Table("T", "Totals", "totals", (ORDER_NO, TOTAL, Column("C", "Count", "integer", "int")), (ORDER_NO,))
    assert apply_example(with_total) == "groupby((Total),aggregate(Total with sum as SumTotal,$count as RowCount))"
    pictures = Table("P", "Picture", "pictures", (PICTURE,), ())
    assert apply_example(pictures) == "aggregate($count as Count)"
