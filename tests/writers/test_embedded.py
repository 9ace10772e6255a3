"""The embedded executor on a database of its own: values arrive as the JSON contract carries them,
what the database refuses is named, views and nested updates are refused, and a receipt is kept
with the write it belongs to."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from redhorn.errors import IdempotencyKeyInUse, InvalidValue, ReadOnlyResource
from redhorn.metadata import Column, Database, Table
from redhorn.writers.embedded import EmbeddedExecutor, bind, not_set, same_as_shown, same_value, wire_value
from redhorn.writers.model import (
    AddRows,
    Assign,
    Join,
    Operation,
    RowWrite,
    Suggest,
    UpdateRow,
    WriteContext,
    WriteRequest,
    WriteResult,
)

NUMBER = Column("No", "Number", "integer", "int")
ITEMS = Table(
    "Itm",
    "Item",
    "items",
    (
        NUMBER,
        Column("Nm", "Name", "string", "varchar(20)"),
        Column("Ref", "Reference", "integer", "int"),
        Column("Pic", "Picture", "binary", "varbinary(max)"),
        Column("At", "ChangedAt", "datetime", "datetime"),
        Column("Ok", "Approved", "boolean", "bit"),
        # The metadata allows NULL where the table does not, as a schema changed under redhorn would.
        Column("Seg", "Segment", "string", "varchar(20)", nullable=True),
        Column("Qty", "Quantity", "integer", "int"),
    ),
    (NUMBER,),
)
ITEM_VIEW = Table("ItmView", "ItemView", "itemview", (NUMBER,), (), is_view=True)
DATABASE = Database("F0042", (ITEMS, ITEM_VIEW))
SCHEMA = """
CREATE TABLE "Itm" (
    "No" INTEGER PRIMARY KEY, "Nm" TEXT NOT NULL, "Ref" INTEGER NOT NULL, "Pic" BLOB NOT NULL,
    "At" TEXT NOT NULL, "Ok" INTEGER NOT NULL, "Seg" TEXT NOT NULL DEFAULT '', "Qty" INTEGER CHECK ("Qty" >= 0)
);
CREATE VIEW "ItmView" AS SELECT "No" FROM "Itm";
"""
CONTEXT = WriteContext(42, "tester")


@pytest.fixture
async def executor(tmp_path: Path) -> AsyncIterator[EmbeddedExecutor]:
    path = tmp_path / "F0042.db"
    with sqlite3.connect(path) as connection:
        connection.executescript(SCHEMA)
    connection.close()
    created = EmbeddedExecutor(lambda name: tmp_path / f"{name}.db", lambda name: DATABASE, today=lambda: 20240611)
    yield created
    await created.close()


def stored(executor: EmbeddedExecutor, number: int) -> dict[str, Any]:
    path = executor._writer("F0042").path
    with sqlite3.connect(path) as connection:
        connection.row_factory = sqlite3.Row
        row = connection.execute('SELECT * FROM "Itm" WHERE "No" = ?', (number,)).fetchone()
    connection.close()
    return {} if row is None else dict(row)


async def add(executor: EmbeddedExecutor, *steps: Assign | Suggest, receipt: str | None = None) -> WriteResult:
    request = WriteRequest(CONTEXT, (AddRows("Itm", (RowWrite(steps),)),))
    return await executor.execute("F0042", request, receipt=receipt)


async def test_a_new_row_starts_from_visma_not_set_values(executor: EmbeddedExecutor):
    await add(executor, Assign("No", 1), Assign("Seg", "A"))
    assert stored(executor, 1) == {
        "No": 1,
        "Nm": "",
        "Ref": 0,
        "Pic": b"",
        "At": "1900-01-01 00:00:00",
        "Ok": 0,
        "Seg": "A",
        "Qty": 0,
    }


async def test_binary_datetime_and_boolean_values_arrive_as_json_gives_them(executor: EmbeddedExecutor):
    result = await add(
        executor,
        Assign("No", 1),
        Assign("Pic", "AP8="),
        Assign("At", "2024-05-01T10:30:00"),
        Assign("Ok", True),
        Assign("Seg", ""),
    )
    row = stored(executor, 1)
    assert (row["Pic"], row["At"], row["Ok"]) == (b"\x00\xff", "2024-05-01 10:30:00", 1)
    assert result.rows[0]["Pic"] == b"\x00\xff" and result.rows[0]["At"] == dt.datetime(2024, 5, 1, 10, 30)


async def test_a_view_cannot_be_written(executor: EmbeddedExecutor):
    request = WriteRequest(CONTEXT, (AddRows("ItmView", (RowWrite((Assign("No", 1),)),)),))
    with pytest.raises(ReadOnlyResource, match="'itemview' is a view") as raised:
        await executor.execute("F0042", request)
    assert raised.value.target == "itemview"


async def test_a_null_the_table_refuses_is_named_by_its_property(executor: EmbeddedExecutor):
    with pytest.raises(InvalidValue, match="refused by the database .*NOT NULL") as raised:
        await add(executor, Assign("No", 1))
    assert raised.value.target == "Segment"
    assert stored(executor, 1) == {}


async def test_a_check_the_table_refuses_is_named_without_a_property(executor: EmbeddedExecutor):
    with pytest.raises(InvalidValue, match="refused by the database .*CHECK") as raised:
        await add(executor, Assign("No", 1), Assign("Seg", ""), Assign("Qty", -1))
    assert raised.value.target is None


async def update(executor: EmbeddedExecutor, number: int, row: RowWrite) -> WriteResult:
    operation: Operation = UpdateRow("Itm", (Assign("No", number),), row)
    return await executor.execute("F0042", WriteRequest(CONTEXT, (operation,)))


async def test_an_update_takes_a_value_from_a_number_series_within_the_interval(executor: EmbeddedExecutor):
    await add(executor, Assign("No", 1), Assign("Seg", ""))
    await add(executor, Assign("No", 2), Assign("Seg", ""), Assign("Ref", 500))
    result = await update(executor, 1, RowWrite((Suggest("Ref", None, 500, 599),)))
    assert result.rows[0]["Ref"] == 501, "500 is taken by another row"
    assert stored(executor, 1)["Ref"] == 501


async def test_rows_cannot_be_nested_in_an_update(executor: EmbeddedExecutor):
    await add(executor, Assign("No", 1), Assign("Seg", ""))
    nested = RowWrite((Assign("Nm", "x"),), (Join("Itm", ("No",), (RowWrite(()),)),))
    with pytest.raises(InvalidValue, match="Rows cannot be nested in an update of 'items'"):
        await update(executor, 1, nested)
    assert stored(executor, 1)["Nm"] == ""


async def test_a_receipt_is_found_after_its_write_and_a_second_write_with_it_is_refused(executor: EmbeddedExecutor):
    assert await executor.find_receipt("F0042", "key-1") is None
    result = await add(executor, Assign("No", 1), Assign("Seg", ""), receipt="key-1")
    found = await executor.find_receipt("F0042", "key-1")
    assert found is not None
    assert msgspec.json.encode(found) == msgspec.json.encode(result), "the same answer, as JSON gives it again"
    with pytest.raises(IdempotencyKeyInUse):
        await add(executor, Assign("No", 2), Assign("Seg", ""), receipt="key-1")
    assert stored(executor, 2) == {}, "the write with a receipt already used was rolled back"


NOT_SET = [
    (Column("a", "A", "string", "varchar"), ""),
    (Column("a", "A", "binary", "varbinary"), b""),
    (Column("a", "A", "datetime", "datetime"), "1900-01-01 00:00:00"),
    (Column("a", "A", "boolean", "bit"), 0),
    (Column("a", "A", "decimal", "decimal"), 0),
    (Column("a", "A", "string", "varchar", nullable=True), None),
]


@pytest.mark.parametrize(("column", "expected"), NOT_SET, ids=[f"{c.kind}-{c.nullable}" for c, _ in NOT_SET])
def test_not_set_is_zero_empty_or_null_by_kind(column: Column, expected: Any):
    assert not_set(column) == expected and type(not_set(column)) is type(expected)


def test_wire_values_are_decoded_only_for_the_kinds_json_carries_as_text():
    binary, moment = Column("b", "B", "binary", "varbinary"), Column("d", "D", "datetime", "datetime")
    assert wire_value(binary, "AP8=") == b"\x00\xff"
    assert wire_value(binary, b"\x01") == b"\x01"
    assert wire_value(moment, "2024-05-01T10:30:00") == dt.datetime(2024, 5, 1, 10, 30)
    assert wire_value(Column("s", "S", "string", "varchar"), "AP8=") == "AP8="


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("12.50"), 12.5),
        (Decimal("12"), 12),
        (Decimal("1E+30"), 1e30),
        (dt.datetime(2024, 5, 1, 10, 30), "2024-05-01 10:30:00"),
        (dt.date(2024, 5, 1), "2024-05-01"),
        (True, 1),
        ("text", "text"),
    ],
)
def test_values_are_bound_as_sqlite_stores_them(value: Any, expected: Any):
    assert bind(value) == expected and type(bind(value)) is type(expected)


AMOUNT = Column("Am", "Amount", "decimal", "decimal(28,2)", scale=2)
RATE = Column("Rt", "Rate", "float", "float")


@pytest.mark.parametrize(
    ("column", "stored_value", "shown", "same"),
    [
        pytest.param(AMOUNT, 12.339999999, Decimal("12.34"), True, id="decimal-at-scale"),
        pytest.param(AMOUNT, 12.3449, Decimal("12.35"), False, id="decimal-differs-at-scale"),
        pytest.param(AMOUNT, Decimal("1E+30"), Decimal("1E+30"), True, id="too-many-digits-same"),
        pytest.param(AMOUNT, Decimal("1E+30"), Decimal("2E+30"), False, id="too-many-digits-differ"),
        pytest.param(RATE, 0.1 + 0.2, Decimal("0.3"), True, id="float-to-15-digits"),
        pytest.param(RATE, 0.3, 0.31, False, id="float-differs"),
        pytest.param(None, 1, Decimal("1.0"), True, id="no-column-numbers-by-value"),
        pytest.param(RATE, "x", "x", True, id="text"),
    ],
)
def test_a_stored_value_is_the_one_shown_as_json_showed_it(column: Column | None, stored_value, shown, same: bool):
    assert same_as_shown(column, stored_value, shown) is same


def test_stored_dates_are_the_same_as_the_dates_they_were_bound_from():
    assert same_value("2024-05-01 10:30:00", dt.datetime(2024, 5, 1, 10, 30))
    assert same_value("2024-05-01", dt.date(2024, 5, 1))
    assert not same_value("2024-05-02", dt.date(2024, 5, 1))
    assert same_value(1, Decimal("1.00")) and not same_value("1", 1)
