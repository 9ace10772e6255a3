"""From parsed query options and a table to the query to run: what to read, in what order, from where.

This is where server-driven paging is decided. A page holds at most `page_size` rows; one more row
is read to know whether another page follows, so the last page carries no nextLink. After the
first page, a keyset seek on the order-by values and the key replaces OFFSET, so page 1,000 costs
what page 1 costs. Tables without a key (some views) fall back to an offset kept in the token.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from redhorn.errors import InvalidKey, InvalidQuery
from redhorn.metadata import Column, Table
from redhorn.odata.ast import BoolOp, Compare, Expression, In, Literal, Property
from redhorn.odata.binder import bind_filter
from redhorn.odata.parser import OrderItem, QueryOptions
from redhorn.query.paging import ListPlan, PageToken, page_window, seek_values
from redhorn.sql.select import CountQuery, OrderColumn, SelectQuery


def select_columns(table: Table, select: tuple[str, ...] | None) -> tuple[Column, ...]:
    """The columns `$select` names, in its order; all columns when it is absent or `*`."""
    if not select:
        return table.columns
    columns: list[Column] = []
    for name in select:
        column = table.column(name)
        if column is None:
            raise InvalidQuery(f"Unknown property {name!r} of {table.resource!r} in $select", target="$select")
        columns.append(column)
    return tuple(columns)


def order_columns(table: Table, order_by: tuple[OrderItem, ...]) -> tuple[OrderColumn, ...]:
    """`$orderBy` resolved, then the key columns not yet in it, so that the order is total."""
    order: list[OrderColumn] = []
    for item in order_by:
        column = table.column(item.name)
        if column is None:
            raise InvalidQuery(f"Unknown property {item.name!r} of {table.resource!r} in $orderBy", target="$orderBy")
        if column.kind == "binary":
            raise InvalidQuery(f"Cannot order by the binary property {column.name!r}", target="$orderBy")
        order.append(OrderColumn(column, item.descending))
    tie_breakers = table.key or tuple(c for c in table.columns if c.kind != "binary")
    used = {entry.column.sql_name for entry in order}
    order.extend(OrderColumn(column) for column in tie_breakers if column.sql_name not in used)
    return tuple(order)


# Kinds the engine's own JSON would not render as redhorn does (base64 for binary, shortest
# round-trip form for doubles); rows with them are encoded by msgspec instead.
_NOT_JSON_RENDERED = frozenset({"binary", "float"})


def can_render_json(columns: tuple[Column, ...]) -> bool:
    return not any(column.kind in _NOT_JSON_RENDERED for column in columns)


def plan_list(
    table: Table, options: QueryOptions, *, page_size: int, token: PageToken | None, json_rows: bool = False
) -> ListPlan:
    """The query for one page of a list request.

    Args:
        json_rows: the engine can render rows as JSON objects; used when the columns allow it.

    Raises:
        InvalidQuery: unknown properties or a filter that does not fit the table.
        InvalidSkipToken: a token whose values do not fit this table's order.
    """
    output = select_columns(table, options.select)
    order = order_columns(table, options.order_by)
    where = bind_filter(options.filter, table) if options.filter is not None else None
    delivered, take, more_possible = page_window(options.top, token, page_size)
    seek: tuple[Any, ...] | None = None
    offset = options.skip
    if token is not None:
        if table.key:
            seek = seek_values(order, token)
            offset = 0
        else:
            offset = token.offset or 0
    json_rows = json_rows and can_render_json(output)
    if json_rows:
        columns = tuple(entry.column for entry in order)
    else:
        columns = output + tuple(entry.column for entry in order if entry.column not in output)
    query = SelectQuery(
        table=table,
        columns=columns,
        output=output,
        json_rows=json_rows,
        where=where,
        order=order,
        limit=take + 1 if more_possible else take,
        offset=offset,
        seek=seek,
    )
    count = CountQuery(table, where) if options.count else None
    return ListPlan(query, take, delivered, more_possible, count)


def plan_count(table: Table, options: QueryOptions) -> CountQuery:
    """`/$count`: the rows `$filter` keeps, counted by the database.

    Raises:
        InvalidQuery: a filter that does not fit the table.
    """
    return CountQuery(table, bind_filter(options.filter, table) if options.filter is not None else None)


def plan_get(
    table: Table, key_segments: list[str], select: tuple[str, ...] | None, *, json_rows: bool = False
) -> SelectQuery:
    """The query for one row by its primary key, given as path segments in key order.

    Raises:
        InvalidKey: the number of segments or a value does not fit the key.
    """
    return plan_key(table, parse_key(table, key_segments), select, json_rows=json_rows)


def parse_key(table: Table, key_segments: list[str]) -> tuple[Any, ...]:
    """The key values that path segments give, each as its column's type.

    Raises:
        InvalidKey: the table has no key, or the number of segments or a value does not fit it.
    """
    if not table.key:
        raise InvalidKey(f"{table.resource!r} has no primary key; rows cannot be read one by one")
    if len(key_segments) != len(table.key):
        names = "/".join("{" + column.name + "}" for column in table.key)
        raise InvalidKey(
            f"{table.resource!r} is keyed by {len(table.key)} value(s): /{table.resource}/{names}; "
            f"got {len(key_segments)}"
        )
    return tuple(parse_key_value(column, segment) for column, segment in zip(table.key, key_segments, strict=True))


def plan_key(
    table: Table, values: tuple[Any, ...], select: tuple[str, ...] | None, *, json_rows: bool = False
) -> SelectQuery:
    """The query for one row by its key values, already typed (a write's read-back holds them so)."""
    output = select_columns(table, select)
    if json_rows and can_render_json(output):
        return SelectQuery(table=table, columns=(), output=output, json_rows=True, limit=1, key_values=values)
    return SelectQuery(table=table, columns=output, output=output, limit=1, key_values=values)


def plan_key_prefix(table: Table, values: dict[str, Any], *, limit: int, json_rows: bool = False) -> SelectQuery:
    """Every row whose leading key columns hold `values` (an order's lines), in key order.

    The condition is built as the bound syntax tree a `$filter` would give, from typed values, so
    nothing is formatted as OData text and parsed again.
    """
    where: Expression | None = None
    for name, value in values.items():
        term = Compare("eq", Property(name), Literal(value))
        where = term if where is None else BoolOp("and", where, term)
    return _whole_rows_in_key_order(table, where, limit=limit, json_rows=json_rows)


def plan_key_values(table: Table, values: tuple[Any, ...], *, limit: int, json_rows: bool = False) -> SelectQuery:
    """Every row whose first key column holds one of `values` (several orders, or all their lines), in key order.

    `plan_key_prefix` for many one-column prefixes in one statement: the same columns, rendered
    the same way, each row followed by its key values.
    """
    where = In(Property(table.key[0].name), tuple(Literal(value) for value in values))
    return _whole_rows_in_key_order(table, where, limit=limit, json_rows=json_rows)


def _whole_rows_in_key_order(table: Table, where: Expression | None, *, limit: int, json_rows: bool) -> SelectQuery:
    """Every column of the rows `where` selects, in key order; as JSON followed by the key values
    where the engine renders JSON, so the reader can tell the rows apart without decoding them."""
    output = table.columns
    order = tuple(OrderColumn(column) for column in table.key)
    json_rows = json_rows and can_render_json(output)
    columns = tuple(entry.column for entry in order) if json_rows else output
    return SelectQuery(
        table=table, columns=columns, output=output, json_rows=json_rows, where=where, order=order, limit=limit
    )


def parse_key_value(column: Column, text: str) -> Any:
    """One key segment as the column's type; integers must be plain decimal digits.

    Raises:
        InvalidKey: the text is not a value of the column's type.
    """
    if column.kind == "integer":
        stripped = text[1:] if text.startswith("-") else text
        if not stripped.isdigit() or not stripped.isascii() or len(stripped) > 19:
            raise InvalidKey(f"Key {column.name!r} must be an integer, not {text!r}", target=column.name)
        value = int(text)
        if not -(2**63) <= value < 2**63:
            raise InvalidKey(f"Key {column.name!r} is out of range: {text!r}", target=column.name)
        return value
    if column.kind == "decimal":
        try:
            return Decimal(text)
        except InvalidOperation:
            raise InvalidKey(f"Key {column.name!r} must be a number, not {text!r}", target=column.name) from None
    if column.max_length is not None and len(text) > column.max_length:
        raise InvalidKey(
            f"Key {column.name!r} is at most {column.max_length} characters long, got {len(text)}", target=column.name
        )
    return text
