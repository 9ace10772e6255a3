"""Value domains in the OpenAPI document, from metadata built by hand: named everywhere, enforced on writes."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate

from redhorn.metadata import Column, Company, Database, Metadata, Table
from redhorn.openapi.document import build_openapi

ORDER_TYPES = (("NormalOrder", 1), ("DirectOrder", 2), ("CashOrder", 3))
ORDER_NO = Column("OrdNo", "OrderNo", "integer", "int", number=2868)
ORDER_TYPE = Column("OrdTp", "OrderType", "integer", "int", number=2872, value_domain="OrderType", values=ORDER_TYPES)
DELIVERY = Column(
    "DelMt", "DeliveryMethod", "integer", "int", nullable=True, value_domain="DeliveryMethod", values=(("Mail", 4),)
)
FLAGS = Column("Gr", "Group", "integer", "int", domain="flags", value_domain="OrderGroup", values=(("A", 1), ("B", 2)))
PLAIN = Column("Nm", "Name", "string", "nvarchar(80)", max_length=80)


def document() -> dict[str, Any]:
    columns = (ORDER_NO, ORDER_TYPE, DELIVERY, FLAGS, PLAIN)
    table = Table("Ord", "Order", "orders", columns, (ORDER_NO,), number=127)
    metadata = Metadata({"F0001": Database("F0001", (table,))}, {1: Company(1, "Test", "F0001")})
    return build_openapi(metadata, 1, version="test")


def test_a_domain_is_named_with_its_members_and_the_column_number_stays():
    built = document()
    validate(built)
    order_type = built["components"]["schemas"]["Order"]["properties"]["OrderType"]
    assert order_type == {
        "type": "integer",
        "format": "int32",
        "x-visma-values": {"NormalOrder": 1, "DirectOrder": 2, "CashOrder": 3},
        "description": "An OrderType value, named in x-visma-values; SQL column OrdTp",
        "x-visma-column-no": 2872,
    }


def test_rows_may_hold_values_outside_the_domain_but_writes_send_members():
    schemas = document()["components"]["schemas"]
    assert "enum" not in schemas["Order"]["properties"]["OrderType"], "Visma's data holds 0 and newer members"
    write = schemas["OrderWrite"]["properties"]
    assert write["OrderType"]["enum"] == [1, 2, 3]
    assert write["OrderType"]["x-visma-values"] == {"NormalOrder": 1, "DirectOrder": 2, "CashOrder": 3}
    assert write["DeliveryMethod"]["type"] == ["integer", "null"] and write["DeliveryMethod"]["enum"] == [4, None]
    assert schemas["OrderWrite"]["example"]["OrderType"] == 1, "Swagger UI's default body is a member"


def test_a_bit_field_lists_its_members_without_an_enum():
    schemas = document()["components"]["schemas"]
    for schema in (schemas["Order"]["properties"]["Group"], schemas["OrderWrite"]["properties"]["Group"]):
        assert schema["x-visma-values"] == {"A": 1, "B": 2} and "enum" not in schema
        assert schema["description"].startswith("A bit field of OrderGroup values")


def test_columns_without_a_domain_are_as_before():
    schemas = document()["components"]["schemas"]
    assert schemas["Order"]["properties"]["Name"] == {"type": "string", "maxLength": 80, "description": "SQL column Nm"}
    assert schemas["OrderWrite"]["properties"]["Name"] == schemas["Order"]["properties"]["Name"]
