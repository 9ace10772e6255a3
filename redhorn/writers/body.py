"""From a write's JSON body to the rows of a `WriteRequest`, checked against the metadata.

The body's property order is the order of assignment (Visma runs its business logic on each
one), so the object is decoded into an insertion-ordered dict and walked in that order. Every
value is checked against its column before anything is written: an unknown property, a value of
the wrong type, a text too long, an integer out of its column's range, a decimal with more
places than its scale, a date that is no date: each is 422 naming the property. Decimals keep
every digit (JSON numbers are decoded as `Decimal`, never through a double).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import msgspec

from redhorn.errors import BodyTooLarge, InvalidValue, MalformedBody, UnknownProperty, UnsupportedMediaType
from redhorn.metadata import Column, Table
from redhorn.writers.model import Assign, RowWrite, Step, Suggest

_decoder = msgspec.json.Decoder(float_hook=Decimal)
MAX_BODY_DEPTH = 8
INTEGER_RANGES = {
    "tinyint": (0, 255),
    "smallint": (-(2**15), 2**15 - 1),
    "int": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
    "integer": (-(2**63), 2**63 - 1),
}


def require_json(content_type: str | None) -> None:
    """Refuse a body that is not JSON by its media type, before reading it.

    Raises:
        UnsupportedMediaType: not `application/json` (or a `+json` type).
    """
    media = (content_type or "").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaType(f"The body must be application/json, not {media or 'missing'!r}")


def decode_body(content_type: str | None, body: bytes, *, max_bytes: int) -> Any:
    """The JSON document of a write's body, objects as insertion-ordered dicts.

    Raises:
        UnsupportedMediaType, BodyTooLarge, MalformedBody.
    """
    require_json(content_type)
    if len(body) > max_bytes:
        raise BodyTooLarge(f"The body is larger than {max_bytes} bytes")
    try:
        document = _decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise MalformedBody(f"The body is not valid JSON: {exc}") from None
    except RecursionError:
        raise MalformedBody(f"The body nests deeper than {MAX_BODY_DEPTH} levels") from None
    _require_shallow(document)
    return document


def _require_shallow(document: Any) -> None:
    """Refuse a document nested deeper than any write can be, before anything walks it recursively.

    The deepest write is an array of orders whose lines are objects: four levels. The walk keeps its
    own stack, so no depth of input can exhaust Python's.

    Raises:
        MalformedBody: deeper than `MAX_BODY_DEPTH`.
    """
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > MAX_BODY_DEPTH:
                    raise MalformedBody(f"The body nests deeper than {MAX_BODY_DEPTH} levels")
                stack.append((child, depth + 1))


def row_write(
    table: Table,
    document: Any,
    *,
    suggest: Mapping[str, tuple[int, int] | None] | None = None,
    read_only: Iterable[str] = (),
) -> RowWrite:
    """The assignments of one row, in the body's order; `suggest` properties take their number series.

    Args:
        table: the resource written.
        document: the decoded JSON object of the row.
        suggest: properties to take from their number series, each with the user's interval or
            None for the company's series; assigned first, before the body's properties.
        read_only: properties the body may not set (a nested line's link to its head).

    Raises:
        MalformedBody: the row is not a JSON object.
        UnknownProperty: a property the resource does not have.
        InvalidValue: a value that does not fit its column, a read-only property, or a property
            both given and asked from its number series.
    """
    if not isinstance(document, dict):
        raise MalformedBody(f"A row of {table.resource!r} must be a JSON object")
    steps: list[Step] = []
    suggested: set[str] = set()
    for name, interval in (suggest or {}).items():
        column = _column(table, name)
        low, high = interval if interval is not None else (None, None)
        steps.append(Suggest(column.sql_name, column.number, low, high))
        suggested.add(column.name.lower())
    blocked = {name.lower() for name in read_only}
    for name, value in document.items():
        column = _column(table, name)
        if column.name.lower() in blocked:
            raise InvalidValue(f"{column.name!r} cannot be given here", target=column.name)
        if column.name.lower() in suggested:
            raise InvalidValue(f"{column.name!r} is both given and asked from its number series", target=column.name)
        coerced = coerce_value(column, value)
        if column.kind == "integer" and any(key.sql_name == column.sql_name for key in table.key):
            _require_key_number(column, coerced)
        steps.append(Assign(column.sql_name, coerced, column.number))
    return RowWrite(tuple(steps))


# Visma numbers rows from 1, in SQL Server `int` columns: a key outside these is no row of Visma's.
KEY_NUMBERS = (1, 2**31 - 1)


def _require_key_number(column: Column, value: int) -> None:
    """Raise unless `value` can number a row: a key of 0 or below, or past `int`, is refused.

    Raises:
        InvalidValue: naming the key property and its range.
    """
    low, high = KEY_NUMBERS
    if not low <= value <= high:
        raise InvalidValue(f"{column.name!r} numbers a row from {low} to {high}, not {value}", target=column.name)


def _column(table: Table, name: str) -> Column:
    column = table.column(name)
    if column is None:
        raise UnknownProperty(f"Unknown property {name!r} of {table.resource!r}", target=name)
    return column


def coerce_value(column: Column, value: Any) -> Any:
    """`value` as the column stores it.

    Raises:
        InvalidValue: naming the property and what it takes.
    """
    name = column.name
    if value is None:
        if column.nullable:
            return None
        raise InvalidValue(f"{name!r} cannot be null; Visma's 'not set' is 0 or ''", target=name)
    kind = column.kind
    if kind == "integer":
        return _integer(column, value)
    if kind == "decimal":
        return _decimal(column, value)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise InvalidValue(f"{name!r} takes a number, not {value!r}", target=name)
        return float(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise InvalidValue(f"{name!r} takes true or false, not {value!r}", target=name)
        return value
    if kind == "binary":
        try:
            return base64.b64decode(value, validate=True) if isinstance(value, str) else _fail()
        except (binascii.Error, ValueError):
            raise InvalidValue(f"{name!r} takes base64 text", target=name) from None
    if kind == "datetime":
        try:
            return dt.datetime.fromisoformat(value) if isinstance(value, str) else _fail()
        except ValueError:
            raise InvalidValue(f"{name!r} takes an ISO 8601 date and time, not {value!r}", target=name) from None
    if not isinstance(value, str):
        raise InvalidValue(f"{name!r} takes text, not {value!r}", target=name)
    if column.max_length is not None and len(value) > column.max_length:
        raise InvalidValue(f"{name!r} is at most {column.max_length} characters long, got {len(value)}", target=name)
    return value


def _fail() -> Any:
    raise ValueError


def _integer(column: Column, value: Any) -> int:
    name = column.name
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(f"{name!r} takes a whole number, not {value!r}", target=name)
    low, high = INTEGER_RANGES.get(column.sql_type.lower(), INTEGER_RANGES["bigint"])
    if not low <= value <= high:
        raise InvalidValue(f"{name!r} is out of range ({low} to {high}): {value}", target=name)
    if column.domain == "date" and value != 0:
        try:
            dt.date(value // 10000, value // 100 % 100, value % 100)
        except ValueError:
            raise InvalidValue(f"{name!r} takes a date as yyyymmdd (0 when empty), not {value}", target=name) from None
    if column.domain == "time" and value != 0 and not (0 <= value // 100 <= 23 and value % 100 < 60):
        raise InvalidValue(f"{name!r} takes a time as hhmm, not {value}", target=name)
    return value


def _decimal(column: Column, value: Any) -> Decimal:
    name = column.name
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise InvalidValue(f"{name!r} takes a number, not {value!r}", target=name)
    number = Decimal(value)
    if not number.is_finite():
        raise InvalidValue(f"{name!r} takes a finite number", target=name)
    exponent = number.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if column.scale is not None and places > column.scale:
        raise InvalidValue(f"{name!r} has at most {column.scale} decimal places, got {places}", target=name)
    if column.precision is not None:
        whole_digits = max(number.adjusted() + 1, 0) if number else 0  # 1.5E+300 has 301 of them
        if whole_digits > column.precision - (column.scale or 0):
            raise InvalidValue(f"{name!r} is too large for decimal({column.precision},{column.scale})", target=name)
    return number
