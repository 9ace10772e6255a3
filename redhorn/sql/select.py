"""What the compiler takes: a SELECT or a count over one table, described as data, free of OData and HTTP.

The query layer plans it from a request's options (or from key values a write holds); a dialect
compiles it. Expressions are the bound OData syntax tree's nodes, the one vocabulary both share.
"""

from __future__ import annotations

from typing import Any

import msgspec

from redhorn.metadata import Column, Table
from redhorn.odata.ast import Expression


class OrderColumn(msgspec.Struct, frozen=True):
    column: Column
    descending: bool = False


class SelectQuery(msgspec.Struct, frozen=True):
    """A SELECT over one table, ready for a dialect to compile.

    `output` is what the client gets. With `json_rows` each row is read as the JSON object text
    of `output` followed by the values of `columns` (the order columns, for the next page's
    token). Without it, `columns` are read as values: `output` first, then the order columns
    not already among them.
    """

    table: Table
    columns: tuple[Column, ...]
    output: tuple[Column, ...]
    json_rows: bool = False
    where: Expression | None = None
    order: tuple[OrderColumn, ...] = ()
    limit: int | None = None
    offset: int = 0
    seek: tuple[Any, ...] | None = None
    key_values: tuple[Any, ...] | None = None


class CountQuery(msgspec.Struct, frozen=True):
    """`$count`: how many rows of `table` the condition `where` selects (all of them, not a page).

    Planned like a `SelectQuery`, so that the count and the list of one request are built from
    the same bound condition and the compiler takes no loose arguments.
    """

    table: Table
    where: Expression | None = None
