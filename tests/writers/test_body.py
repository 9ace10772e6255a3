"""Each kind of column takes the values that fit it and names the property when a value does not;
a body nested deeper than any write is refused before anything walks it."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from redhorn.errors import InvalidValue, MalformedBody
from redhorn.metadata import Column, Table
from redhorn.writers.body import MAX_BODY_DEPTH, coerce_value, decode_body, row_write
from redhorn.writers.model import Assign

RATE = Column("Rt", "Rate", "float", "float")
ACTIVE = Column("Act", "Active", "boolean", "bit")
CHANGED = Column("ChgAt", "ChangedAt", "datetime", "datetime")
PICTURE = Column("Pic", "Picture", "binary", "varbinary(max)")
QUANTITY = Column("Qty", "Quantity", "integer", "smallint")
TIME = Column("Tm", "Time", "integer", "int", domain="time")
AMOUNT = Column("Am", "Amount", "decimal", "decimal", scale=2)
LINE = Column("LnNo", "LineNo", "integer", "int")
LINES = Table("Ln", "Line", "lines", (LINE, QUANTITY, TIME), (LINE,))


def decoded(text: str) -> Any:
    return decode_body("application/json", text.encode(), max_bytes=1_000_000)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        pytest.param(RATE, 3, 3.0, id="float-from-int"),
        pytest.param(RATE, Decimal("0.1"), 0.1, id="float-from-decimal"),
        pytest.param(ACTIVE, True, True, id="boolean"),
        pytest.param(ACTIVE, False, False, id="boolean-false"),
        pytest.param(CHANGED, "2024-05-01T10:30:00", dt.datetime(2024, 5, 1, 10, 30), id="iso-datetime"),
        pytest.param(CHANGED, "2024-05-01", dt.datetime(2024, 5, 1), id="iso-date"),
        pytest.param(QUANTITY, Decimal("10.0"), 10, id="whole-decimal-is-an-integer"),
        pytest.param(QUANTITY, Decimal("1E+2"), 100, id="whole-exponent-is-an-integer"),
        pytest.param(TIME, 0, 0, id="time-not-set"),
        pytest.param(TIME, 2359, 2359, id="time-last-minute"),
        pytest.param(TIME, 5, 5, id="time-just-after-midnight"),
        pytest.param(AMOUNT, Decimal("12345678901234567890.25"), Decimal("12345678901234567890.25"), id="no-precision"),
    ],
)
def test_values_that_fit_are_stored_as_their_column_keeps_them(column: Column, value: Any, expected: Any):
    coerced = coerce_value(column, value)
    assert coerced == expected
    assert type(coerced) is type(expected)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        pytest.param(RATE, True, "'Rate' takes a number, not True", id="float-bool"),
        pytest.param(RATE, "1.5", "'Rate' takes a number, not '1.5'", id="float-text"),
        pytest.param(ACTIVE, "true", "'Active' takes true or false, not 'true'", id="boolean-text"),
        pytest.param(ACTIVE, 0, "'Active' takes true or false, not 0", id="boolean-zero"),
        pytest.param(
            CHANGED, "yesterday", "'ChangedAt' takes an ISO 8601 date and time, not 'yesterday'", id="dt-text"
        ),
        pytest.param(CHANGED, 20240501, "'ChangedAt' takes an ISO 8601 date and time, not 20240501", id="dt-number"),
        pytest.param(PICTURE, 255, "'Picture' takes base64 text", id="binary-number"),
        pytest.param(PICTURE, "AP8", "'Picture' takes base64 text", id="binary-unpadded"),
        pytest.param(QUANTITY, 40_000, "'Quantity' is out of range (-32768 to 32767): 40000", id="smallint-range"),
        pytest.param(QUANTITY, Decimal("2.5"), "'Quantity' takes a whole number, not Decimal('2.5')", id="fraction"),
        pytest.param(TIME, 2400, "'Time' takes a time as hhmm, not 2400", id="time-hour-24"),
        pytest.param(TIME, 1260, "'Time' takes a time as hhmm, not 1260", id="time-minute-60"),
        pytest.param(TIME, -5, "'Time' takes a time as hhmm, not -5", id="time-negative"),
        pytest.param(AMOUNT, "12.50", "'Amount' takes a number, not '12.50'", id="decimal-text"),
        pytest.param(AMOUNT, False, "'Amount' takes a number, not False", id="decimal-bool"),
        pytest.param(AMOUNT, Decimal("Infinity"), "'Amount' takes a finite number", id="decimal-infinite"),
        pytest.param(AMOUNT, Decimal("NaN"), "'Amount' takes a finite number", id="decimal-nan"),
        pytest.param(AMOUNT, Decimal("1.005"), "'Amount' has at most 2 decimal places, got 3", id="decimal-scale"),
    ],
)
def test_values_that_do_not_fit_are_refused_naming_the_property(column: Column, value: Any, message: str):
    with pytest.raises(InvalidValue) as raised:
        coerce_value(column, value)
    assert raised.value.message == message
    assert raised.value.target == column.name


@pytest.mark.parametrize("value", [0, -1, -(2**31)])
def test_a_key_number_outside_what_visma_numbers_rows_with_is_refused(value: int):
    with pytest.raises(InvalidValue, match=f"'LineNo' numbers a row from 1 to 2147483647, not {value}") as raised:
        row_write(LINES, {"LineNo": value})
    assert raised.value.target == "LineNo"


def test_key_numbers_at_the_bounds_and_other_integers_pass():
    assert row_write(LINES, {"LineNo": 1, "Quantity": 0}).steps == (Assign("LnNo", 1), Assign("Qty", 0))
    assert row_write(LINES, {"LineNo": 2**31 - 1}).steps == (Assign("LnNo", 2**31 - 1),)


def nested(depth: int) -> str:
    """A JSON document `depth` levels deep: an object holding lists."""
    return "{" + '"a": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


def test_a_body_as_deep_as_the_limit_is_read():
    assert decoded(nested(MAX_BODY_DEPTH)) == json.loads(nested(MAX_BODY_DEPTH))


@pytest.mark.parametrize("depth", [MAX_BODY_DEPTH + 1, 50, 100_000])
def test_a_body_deeper_than_the_limit_is_malformed_however_deep(depth: int):
    with pytest.raises(MalformedBody, match=f"nests deeper than {MAX_BODY_DEPTH} levels"):
        decoded(nested(depth))


def test_media_types_ending_in_json_are_json():
    assert decode_body("application/merge-patch+json", b'{"a": 1}', max_bytes=100) == {"a": 1}
    assert decode_body("Application/JSON ; charset=utf-8", b"[1.50]", max_bytes=100) == [Decimal("1.50")]
