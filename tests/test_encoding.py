"""JSON out: SQL Server's values (through pyodbc) and SQLite's, written as the API promises."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from redhorn.encoding import encode_json_list, encode_list, encode_row
from redhorn.metadata import Column

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
