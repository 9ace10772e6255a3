"""The write request model and the checks a body goes through before anything is written."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from redhorn.errors import BodyTooLarge, InvalidValue, MalformedBody, UnknownProperty, UnsupportedMediaType
from redhorn.metadata import Column, Table
from redhorn.writers.body import coerce_value, decode_body, row_write
from redhorn.writers.model import AddRows, Assign, RowWrite, Suggest, WriteContext, WriteRequest, contract_schema

CONTRACT = Path(__file__).parent.parent.parent / "redhorn" / "writers" / "vbs-write.schema.json"
ORDERS = Table(
    "Ord",
    "Order",
    "orders",
    (
        Column("OrdNo", "OrderNo", "integer", "int", number=2868),
        Column("CustNo", "CustomerNo", "integer", "int"),
        Column("Nm", "Name", "string", "varchar(80)", max_length=80),
        Column("OrdDt", "OrderDate", "integer", "int", domain="date"),
        Column("ExRt", "ExchangeRate", "decimal", "decimal(28,6)", precision=28, scale=6),
        Column("Seg", "Segment", "string", "varchar(20)", nullable=True, max_length=20, known=False),
        Column("Ok", "Approved", "boolean", "bit"),
        Column("Pic", "Picture", "binary", "varbinary(max)"),
    ),
    (Column("OrdNo", "OrderNo", "integer", "int", number=2868),),
)


def test_the_body_order_is_the_assignment_order_and_decimals_keep_every_digit():
    body = decode_body(
        "application/json", b'{"Name": "X", "customerNo": 10001, "ExchangeRate": 1.123456}', max_bytes=1000
    )
    first = row_write(ORDERS, body, suggest={"OrderNo": None})
    assert first.steps == (
        Suggest("OrdNo", 2868),
        Assign("Nm", "X"),
        Assign("CustNo", 10001),
        Assign("ExRt", Decimal("1.123456")),
    )
    with pytest.raises(InvalidValue, match="number series") as refused:
        row_write(ORDERS, body, suggest={"name": (1, 9)})
    assert refused.value.target == "Name"
    ranged = row_write(ORDERS, {"Name": "Y"}, suggest={"CustomerNo": (20_000, 20_999)})
    assert ranged.steps[0] == Suggest("CustNo", None, 20_000, 20_999) and ranged.steps[0].interval == (20_000, 20_999)
    swapped = row_write(ORDERS, decode_body("application/json", b'{"CustomerNo": 10001, "Name": "X"}', max_bytes=99))
    assert [step.column for step in swapped.steps] == ["CustNo", "Nm"]


@pytest.mark.parametrize(
    ("content_type", "body", "error"),
    [
        pytest.param("text/plain", b"{}", UnsupportedMediaType, id="not-json-media-type"),
        pytest.param(None, b"{}", UnsupportedMediaType, id="no-media-type"),
        pytest.param("application/json", b"{" + b" " * 2000 + b"}", BodyTooLarge, id="too-large"),
        pytest.param("application/json; charset=utf-8", b'{"a": ', MalformedBody, id="malformed"),
    ],
)
def test_bodies_that_are_refused_before_reading_them(content_type, body, error):
    with pytest.raises(error):
        decode_body(content_type, body, max_bytes=1000)


@pytest.mark.parametrize(
    ("document", "error", "target"),
    [
        pytest.param({"Foo": 1}, UnknownProperty, "Foo", id="unknown"),
        pytest.param({"Name": "x" * 81}, InvalidValue, "Name", id="too-long"),
        pytest.param({"Name": 5}, InvalidValue, "Name", id="number-for-text"),
        pytest.param({"CustomerNo": "10001"}, InvalidValue, "CustomerNo", id="text-for-number"),
        pytest.param({"CustomerNo": 2**31}, InvalidValue, "CustomerNo", id="int-range"),
        pytest.param({"CustomerNo": 1.5}, InvalidValue, "CustomerNo", id="fraction-for-int"),
        pytest.param({"CustomerNo": True}, InvalidValue, "CustomerNo", id="bool-for-int"),
        pytest.param({"CustomerNo": None}, InvalidValue, "CustomerNo", id="null-not-allowed"),
        pytest.param({"OrderDate": 20261301}, InvalidValue, "OrderDate", id="no-such-date"),
        pytest.param({"ExchangeRate": 1.1234567}, InvalidValue, "ExchangeRate", id="decimal-scale"),
        pytest.param({"ExchangeRate": 10**23}, InvalidValue, "ExchangeRate", id="decimal-precision"),
        pytest.param({"ExchangeRate": -1.7976931348623157e308}, InvalidValue, "ExchangeRate", id="huge-float"),
        pytest.param({"ExchangeRate": 1.5e22}, InvalidValue, "ExchangeRate", id="exponent-precision"),
        pytest.param({"Approved": 1}, InvalidValue, "Approved", id="int-for-bool"),
        pytest.param({"Picture": "not base64!"}, InvalidValue, "Picture", id="bad-base64"),
        pytest.param({"OrderNo": 5}, InvalidValue, "OrderNo", id="read-only-key"),
    ],
)
def test_values_that_do_not_fit_their_column_name_the_property(document, error, target):
    body = decode_body("application/json", json.dumps(document).encode(), max_bytes=10_000)
    with pytest.raises(error) as caught:
        row_write(ORDERS, body, read_only=["OrderNo"])
    assert caught.value.target == target and caught.value.status in (400, 422)


def test_values_that_fit():
    assert coerce_value(ORDERS.columns[5], None) is None
    assert coerce_value(ORDERS.columns[3], 0) == 0 and coerce_value(ORDERS.columns[3], 20260229 - 1) == 20260228
    assert coerce_value(ORDERS.columns[4], Decimal("12.500000")) == Decimal("12.5")
    assert coerce_value(ORDERS.columns[4], Decimal("9.99E+21")) == Decimal("9.99E+21"), "22 whole digits fit"
    assert coerce_value(ORDERS.columns[4], Decimal("0.000001")) == Decimal("0.000001")
    assert coerce_value(ORDERS.columns[7], "AP8=") == b"\x00\xff"
    with pytest.raises(MalformedBody):
        row_write(ORDERS, [1, 2])


def test_requests_round_trip_through_their_json_form():
    request = WriteRequest(
        WriteContext(9999, "system"),
        (
            AddRows(
                "Ord", (RowWrite((Assign("CustNo", 10001), Suggest("OrdNo", 2868), Assign("ExRt", Decimal("1.5")))),)
            ),
        ),
    )
    encoded = msgspec.json.Encoder(decimal_format="number").encode(request)
    assert b'"value":1.5' in encoded and b'"type":"suggest"' in encoded
    decoded = msgspec.json.Decoder(WriteRequest, float_hook=Decimal).decode(encoded)
    assert decoded == request


def test_the_contract_file_is_the_schema_of_the_model():
    text = json.dumps(contract_schema(), indent=2, sort_keys=True) + "\n"
    if os.environ.get("REDHORN_UPDATE_GOLDEN") == "1":
        CONTRACT.write_text(text)
    assert CONTRACT.read_text() == text, "run with REDHORN_UPDATE_GOLDEN=1 after changing the model"


async def test_the_executor_takes_only_tables_columns_and_links_the_metadata_has(demo_folder, tmp_path):
    """The contract arrives from the network at a bridge: names in it never reach SQL unchecked."""
    import shutil

    from redhorn.catalog.crawler import crawl
    from redhorn.catalog.dictionary import load_dictionary
    from redhorn.engines.sqlite import SqliteEngine
    from redhorn.writers.embedded import EmbeddedExecutor
    from redhorn.writers.model import Join, Operation, UpdateRow

    for database in demo_folder.glob("*.db"):
        shutil.copy(database, tmp_path / database.name)
    engine = SqliteEngine(tmp_path)
    metadata = await crawl(engine, load_dictionary())
    await engine.close()
    executor = EmbeddedExecutor(engine.path_of, lambda name: metadata.databases[name])
    context = WriteContext(9999, "system")
    bad: list[Operation] = [
        AddRows('Actor"; DROP TABLE "Ord', (RowWrite((Assign("Nm", "x"),)),)),
        AddRows("Actor", (RowWrite((Assign('Nm" = 1; --', "x"),)),)),
        AddRows("Ord", (RowWrite((), (Join("OrdLn", ('OrdNo"--',), (RowWrite(()),)),)),)),
        AddRows("Ord", (RowWrite((), (Join("Actor", ("ActNo",), (RowWrite(()),)),)),)),
        UpdateRow("Actor", (Assign("Nope", 1),), RowWrite(())),
    ]
    try:
        for operation in bad:
            with pytest.raises((UnknownProperty, InvalidValue)):
                await executor.execute("F9999", WriteRequest(context, (operation,)))
    finally:
        await executor.close()
