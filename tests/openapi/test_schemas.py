"""The fixed bodies' schemas are msgspec's own, of the Structs that write the bodies."""

from __future__ import annotations

from typing import Any

import msgspec

from redhorn.auth.endpoint import OAuthErrorBody, TokenResponse
from redhorn.encoding import HealthReport, ResourceList
from redhorn.errors import ErrorBody
from redhorn.metadata import Column, Company, Database, Metadata, Table
from redhorn.openapi.document import build_openapi
from redhorn.openapi.schemas import REF_TEMPLATE, fixed_components, page_schema, written_schema

KEY = Column("No", "No", "integer", "int")


def metadata_with(*names: str) -> Metadata:
    tables = tuple(Table(name, name, name.lower(), (KEY,), (KEY,)) for name in names)
    return Metadata({"F0001": Database("F0001", tables)}, {1: Company(1, "Test", "F0001")})


def test_fixed_components_are_those_msgspec_makes():
    bodies = (ErrorBody, TokenResponse, OAuthErrorBody, ResourceList, HealthReport)
    _, expected = msgspec.json.schema_components(bodies, ref_template=REF_TEMPLATE)
    schemas = build_openapi(metadata_with("Order"), 1, version="test")["components"]["schemas"]
    for name, schema in expected.items():
        assert schemas[name] == schema, name
    assert schemas["HealthReport"]["properties"]["licence"] == {"$ref": "#/components/schemas/LicenceReport"}


def test_a_page_is_the_envelope_with_the_resources_rows():
    page = page_schema("#/components/schemas/Order")
    assert list(page["properties"]) == ["@odata.count", "value", "@odata.nextLink", "@odata.deltaLink"]
    assert page["properties"]["value"] == {"type": "array", "items": {"$ref": "#/components/schemas/Order"}}
    assert page["required"] == ["value"] and "title" not in page
    assert page_schema("#/x")["properties"]["value"]["items"] == {"$ref": "#/x"}, "each copy is its own"
    one, many = written_schema("#/r"), written_schema("#/r", many=True)
    assert one["properties"]["value"] == {"$ref": "#/r"}
    assert many["properties"]["value"] == {"type": "array", "items": {"$ref": "#/r"}}
    assert one["properties"]["messages"]["items"] == {"$ref": "#/components/schemas/Message"}


def test_documents_share_no_dicts():
    first = fixed_components()
    first["ErrorBody"]["properties"].clear()
    assert fixed_components()["ErrorBody"]["properties"], "a change to one document leaves the next as it was"


def test_a_table_named_like_a_fixed_body_does_not_replace_it():
    schemas: dict[str, Any] = build_openapi(metadata_with("HealthReport"), 1, version="test")["components"]["schemas"]
    assert schemas["HealthReport"]["title"] == "HealthReport" and "x-key" in schemas["F0001HealthReport"]
