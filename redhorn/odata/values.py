"""Visma's stored values as OData's typed ones, and back: the one place the `/odata` root's types are decided.

Visma keeps dates as `yyyymmdd` integers (0 for "no date"), times of day as `hhmm` integers and
amounts as decimals. `/api` shows them as stored; `/odata` declares them `Edm.Date`,
`Edm.TimeOfDay` and `Edm.Decimal` in `$metadata` and writes them so (`"2026-01-31"`, `"14:30:00"`,
JSON numbers), because Power BI and Excel type a column from `$metadata` and refuse values that do
not fit. `edm_type` decides a column's type and `converter` its values from the same rule, so the
document and the rows cannot disagree.

Key columns keep their stored type whatever their domain: a key is an address (`Orders(1001)`), and
an address that changed shape between `/api` and `/odata`, or became null for a stored 0, would
not round-trip.

Pure: no HTTP, no SQL.
"""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import functools
import re
from collections.abc import Callable, Sequence
from typing import Any

from redhorn.metadata import Column, Table

Converter = Callable[[Any], Any]

# SQL types whose integers need 64 bits: SQL Server's bigint, and SQLite's INTEGER (a rowid alias).
_INT64_TYPES = frozenset({"bigint", "integer", "int8"})
_INT16_TYPES = frozenset({"smallint", "int2"})
_BYTE_TYPES = frozenset({"tinyint"})


def _base_type(sql_type: str) -> str:
    return sql_type.split("(", 1)[0].strip().lower()


def edm_type(column: Column, *, key: bool = False) -> str:
    """The `Edm` type `$metadata` declares for `column`; `key` for a column of its table's key."""
    kind = column.kind
    if kind == "integer":
        if not key and column.domain == "date":
            return "Edm.Date"
        if not key and column.domain == "time":
            return "Edm.TimeOfDay"
        base = _base_type(column.sql_type)
        if base in _INT64_TYPES:
            return "Edm.Int64"
        if base in _INT16_TYPES:
            return "Edm.Int16"
        if base in _BYTE_TYPES:
            return "Edm.Byte"
        return "Edm.Int32"
    return {
        "decimal": "Edm.Decimal",
        "float": "Edm.Double",
        "string": "Edm.String",
        "boolean": "Edm.Boolean",
        "datetime": "Edm.DateTimeOffset",
        "binary": "Edm.Binary",
    }[kind]


def is_nullable(column: Column, *, key: bool = False) -> bool:
    """Whether `$metadata` says the property may be null: a stored 0 date is null in OData."""
    if key:
        return False
    return column.nullable or edm_type(column) == "Edm.Date"


@functools.lru_cache(maxsize=1 << 16)
def date_text(value: Any) -> str | None:
    """`20260131` as `"2026-01-31"`; 0, null and anything that is no calendar day as null."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return None
    year, month, day = value // 10000, value // 100 % 100, value % 100
    if not (1 <= year <= 9999 and 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]):
        return None
    return f"{year:04d}-{month:02d}-{day:02d}"


@functools.lru_cache(maxsize=4096)
def time_text(value: Any) -> str | None:
    """`1430` as `"14:30:00"`; null, and anything that is no time of day, as null."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        return None
    hour, minute = divmod(value, 100)
    if hour > 23 or minute > 59:
        return None
    return f"{hour:02d}:{minute:02d}:00"


def binary_text(value: Any) -> str | None:
    """Bytes as OData JSON writes `Edm.Binary`: base64url (RFC 4648 section 5)."""
    if value is None:
        return None
    if isinstance(value, str):  # already base64 from an engine's JSON
        value = base64.b64decode(value)
    return base64.urlsafe_b64encode(bytes(value)).decode("ascii")


def datetime_text(value: Any) -> str | None:
    """A timestamp as `Edm.DateTimeOffset` needs it: with an offset; Visma's are UTC-less, taken as UTC."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        stamp: dt.datetime = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return stamp.isoformat()
    text = str(value).replace(" ", "T", 1)
    return text if re.search(r"(Z|[+-]\d\d:\d\d)$", text) else text + "Z"


def boolean_value(value: Any) -> bool | None:
    return None if value is None else bool(value)


_CONVERTERS: dict[str, Converter] = {
    "Edm.Date": date_text,
    "Edm.TimeOfDay": time_text,
    "Edm.Binary": binary_text,
    "Edm.DateTimeOffset": datetime_text,
    "Edm.Boolean": boolean_value,
}


def converter(column: Column, *, key: bool = False) -> Converter | None:
    """What turns the column's stored value into its OData value; None where they are the same."""
    return _CONVERTERS.get(edm_type(column, key=key))


def row_converters(table: Table, columns: Sequence[Column]) -> tuple[tuple[int, str, Converter], ...]:
    """For each of `columns` whose values change: its position, its property name and the change."""
    keys = {column.sql_name for column in table.key}
    found: list[tuple[int, str, Converter]] = []
    for index, column in enumerate(columns):
        change = converter(column, key=column.sql_name in keys)
        if change is not None:
            found.append((index, column.name, change))
    return tuple(found)


def convert_tuples(
    rows: Sequence[tuple[Any, ...]], width: int, converters: tuple[tuple[int, str, Converter], ...]
) -> list[tuple[Any, ...]]:
    """Rows (their first `width` values) with OData's values in place of Visma's."""
    if not converters:
        return [row[:width] for row in rows] if rows and len(rows[0]) != width else list(rows)
    converted: list[tuple[Any, ...]] = []
    for row in rows:
        values = list(row[:width])
        for index, _, change in converters:
            values[index] = change(values[index])
        converted.append(tuple(values))
    return converted


def convert_objects(rows: list[dict[str, Any]], converters: tuple[tuple[int, str, Converter], ...]) -> None:
    """Rows decoded from an engine's JSON objects, changed in place to OData's values."""
    for row in rows:
        for _, name, change in converters:
            if name in row:
                row[name] = change(row[name])
