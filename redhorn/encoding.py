"""JSON out: one msgspec Encoder per process, rows encoded straight from database tuples.

Rows never become dicts. For each distinct list of properties a Struct type is made once (field
`f0` renamed to `OrderNo`, ...) and every row tuple is unpacked into it; msgspec encodes those
several times faster than dicts, and the property names are escaped once, not per row.

Where the engine can write rows as JSON itself (SQLite's json_object, in C, with the GIL
released), rows arrive as JSON object texts and are joined into the envelope as they are.

Decimal policy: SQL Server's decimal values arrive as `Decimal` and are written as JSON numbers
with every digit kept (never as strings, never through float). SQLite stores decimals as REAL;
they are written with up to 15 significant digits, all that a double holds of a decimal number,
so 12.5 stays 12.5 and a stored 0.30000000000000004 is the 0.3 that was meant.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from typing import Any

import msgspec

from redhorn.metadata import Column

encoder = msgspec.json.Encoder(decimal_format="number")


class ListEnvelope(
    msgspec.Struct, kw_only=True, omit_defaults=True, rename={"count": "@odata.count", "next_link": "@odata.nextLink"}
):
    """The OData list response: `{"@odata.count"?, "value", "@odata.nextLink"?}`, in that order."""

    count: int | msgspec.UnsetType = msgspec.UNSET
    value: list[Any]
    next_link: str | msgspec.UnsetType = msgspec.UNSET


class SingleEnvelope(msgspec.Struct):
    value: Any


@functools.lru_cache(maxsize=4096)
def row_type(names: tuple[str, ...]) -> type[msgspec.Struct]:
    """A Struct type whose fields encode as `names`, in order; made once per list of names."""
    fields = [(f"f{i}", Any) for i in range(len(names))]
    return msgspec.defstruct("Row", fields, rename={f"f{i}": name for i, name in enumerate(names)})


def rows_to_structs(columns: Sequence[Column], rows: Sequence[tuple[Any, ...]], width: int | None = None) -> list[Any]:
    """Rows as Structs named by `columns`; `width` keeps only the first columns of each row."""
    names = tuple(column.name for column in columns[:width])
    cls = row_type(names)
    if width is not None and rows and len(rows[0]) != width:
        return list(itertools.starmap(cls, (row[:width] for row in rows)))
    return list(itertools.starmap(cls, rows))


def encode_list(
    columns: Sequence[Column],
    rows: Sequence[tuple[Any, ...]],
    *,
    width: int,
    count: int | None = None,
    next_link: str | None = None,
) -> bytes:
    """The JSON bytes of a list response for `rows` (only their first `width` values are shown)."""
    envelope = ListEnvelope(
        count=msgspec.UNSET if count is None else count,
        value=rows_to_structs(columns, rows, width),
        next_link=msgspec.UNSET if next_link is None else next_link,
    )
    return encoder.encode(envelope)


def encode_json_list(texts: Sequence[bytes], *, count: int | None = None, next_link: str | None = None) -> bytes:
    """The JSON bytes of a list response whose rows are already JSON objects (UTF-8 bytes)."""
    envelope = ListEnvelope(
        count=msgspec.UNSET if count is None else count,
        value=msgspec.Raw(b"[" + b",".join(texts) + b"]"),  # type: ignore[arg-type]
        next_link=msgspec.UNSET if next_link is None else next_link,
    )
    return encoder.encode(envelope)


def encode_row(columns: Sequence[Column], row: tuple[Any, ...]) -> bytes:
    """The JSON bytes of one row as an object."""
    return encoder.encode(rows_to_structs(columns, [row])[0])


def encode(value: Any) -> bytes:
    return encoder.encode(value)
