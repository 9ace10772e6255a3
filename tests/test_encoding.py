"""JSON out: SQL Server's values (through pyodbc) and SQLite's, written as the API promises."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import msgspec

from redhorn.encoding import (
    ENCODER,
    HealthReport,
    LicenceReport,
    ResourceEntry,
    ResourceList,
    WriteAnswer,
    encode,
    encode_json_list,
    encode_list,
    encode_row,
)
from redhorn.errors import InvalidKey, error_body
from redhorn.metadata import Column
from redhorn.writers.model import Message

COLUMNS = (
    Column("No", "No", "integer", "int"),
    Column("Am", "Amount", "decimal", "decimal(28,6)", precision=28, scale=6),
    Column("Nm", "Name", "string", "nvarchar(80)", max_length=80),
    Column("Ok", "Approved", "boolean", "bit"),
    Column("At", "ChangedAt", "datetime", "datetime"),
    Column("Pic", "Picture", "binary", "varbinary(max)", nullable=True),
    Column("Rt", "Rate", "float", "float"),
)


def test_sql_server_values_become_json_without_loss():
    row = (
        2**53 + 1,
        Decimal("12345678901234567890.123456"),
        'Sjørør "AS"\n',
        True,
        dt.datetime(2026, 11, 24, 13, 45, 7, 250000),
        b"\x00\xff\x10",
        0.1 + 0.2,
    )
    text = encode_row(COLUMNS, row).decode()
    assert '"No":9007199254740993' in text, "big integers stay exact"
    assert '"Amount":12345678901234567890.123456' in text, "decimals are numbers with every digit"
    decoded = json.loads(text)
    assert decoded == {
        "No": 2**53 + 1,
        "Amount": 12345678901234567890.123456,
        "Name": 'Sjørør "AS"\n',
        "Approved": True,
        "ChangedAt": "2026-11-24T13:45:07.250000",
        "Picture": "AP8Q",
        "Rate": 0.30000000000000004,
    }


def test_lists_keep_only_the_output_columns_and_their_order():
    rows = [(1, Decimal("1.50"), "a", False, None, None, 1.0, "extra order value")]
    body = json.loads(encode_list(COLUMNS, rows, width=len(COLUMNS), count=7, next_link="https://x/next"))
    assert list(body) == ["@odata.count", "value", "@odata.nextLink"]
    assert body["value"] == [
        {"No": 1, "Amount": 1.5, "Name": "a", "Approved": False, "ChangedAt": None, "Picture": None, "Rate": 1.0}
    ]


def test_json_rows_are_spliced_into_the_envelope():
    body = encode_json_list([b'{"A":1}', b'{"A":2}'], count=None, next_link=None)
    assert body == b'{"value":[{"A":1},{"A":2}]}'
    assert json.loads(encode_json_list([], count=0)) == {"@odata.count": 0, "value": []}


def test_response_bodies_are_structs_with_the_keys_and_order_of_the_wire():
    assert encode(HealthReport(status="ok")) == b'{"status":"ok"}'
    report = LicenceReport(status="valid", id="L1", licensee="ACME", expires="2027-01-01 00:00 UTC", days_left=30.5)
    health = HealthReport(status="degraded", databases={"F9999": "starting"}, licence=report)
    assert encode(health) == (
        b'{"status":"degraded","databases":{"F9999":"starting"},"licence":{"status":"valid","id":"L1",'
        b'"licensee":"ACME","expires":"2027-01-01 00:00 UTC","daysLeft":30.5}}'
    )
    assert encode(LicenceReport(status="invalid", reason="why", last_renewal_error="no")) == (
        b'{"status":"invalid","reason":"why","lastRenewalError":"no"}'
    )
    entry = ResourceEntry("orders", "Order", "table", False, ["OrderNo"], "https://x/orders", "https://x/orders/$count")
    assert encode(ResourceList([entry])) == (
        b'{"value":[{"name":"orders","title":"Order","kind":"table","extension":false,"key":["OrderNo"],'
        b'"url":"https://x/orders","count":"https://x/orders/$count"}]}'
    )


def test_a_write_answer_splices_the_row_as_read_back():
    messages = [Message("info", "Price updated", row=0), Message("warning", "Stock low", target="Qty")]
    answer = encode(WriteAnswer(msgspec.Raw(b'{"OrderNo":1,"Amount":1.50}'), messages))
    assert answer == (
        b'{"value":{"OrderNo":1,"Amount":1.50},"messages":[{"severity":"info","text":"Price updated","row":0},'
        b'{"severity":"warning","text":"Stock low","target":"Qty"}]}'
    )
    assert encode(WriteAnswer(msgspec.Raw(b"[{},{}]"), [])) == b'{"value":[{},{}],"messages":[]}'


def test_one_encoder_writes_decimals_as_numbers():
    assert ENCODER.encode(Decimal("0.10")) == b"0.10"
    assert error_body(InvalidKey("bad", target="OrderNo")) == (
        b'{"error":{"code":"InvalidKey","message":"bad","target":"OrderNo"}}'
    )
