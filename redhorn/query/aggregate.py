"""From a parsed `$apply` and a table to the grouped read to run, and its server-driven paging.

The transformations are checked against the metadata here: every property exists, every method
fits its column's kind (sum and average take numbers; min and max numbers, strings, dates and
times; countdistinct anything but binary), aliases are unique and name no property of the table.
The chain redhorn runs is what one GROUP BY can answer: any `filter()` before one `groupby` or
`aggregate` (the WHERE), any `filter()` after it (a condition on the grouped result); `$filter`,
`$orderby`, `$top`, `$skip` and `$count` then apply to the grouped result, and may name group
properties and aliases.

Grouped results page like rows (`redhorn.query.paging`): one group more than the page is read to
know whether another page follows, and the next page's token carries the last group's values of
the order, which always ends with every group key. Group keys are unique in a grouped result,
so the order is total and a keyset seek replaces OFFSET. The seek is tested before grouping
whenever the order is group keys only (`redhorn.sql.aggregate`): a later page then neither sorts
nor sums the rows of groups already delivered, and with an index on the group keys reads none of
them either, so page 100 of the product totals costs what page 1 costs. Without such an index every
page still reads the whole table once. The token is signed and bound to the `$apply` text as well
as to the options.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec

from redhorn.errors import InvalidQuery
from redhorn.metadata import Column, Table, TypeKind
from redhorn.odata.apply import Aggregate, AggregateStep, Apply, FilterStep, GroupByStep
from redhorn.odata.ast import BoolOp, Expression
from redhorn.odata.binder import bind_filter, column_value_type
from redhorn.odata.parser import QueryOptions
from redhorn.query.paging import PageToken, page_window, query_binding, seek_values, sign_page_token
from redhorn.sql.aggregate import AggregateColumn, AggregateQuery
from redhorn.sql.select import OrderColumn

# Which value types (as `$filter` types them) each method takes.
_METHOD_TYPES: dict[str, frozenset[str]] = {
    "sum": frozenset({"number"}),
    "average": frozenset({"number"}),
    "min": frozenset({"number", "string", "date", "time", "datetime"}),
    "max": frozenset({"number", "string", "date", "time", "datetime"}),
    "countdistinct": frozenset({"number", "string", "boolean", "date", "time", "datetime"}),
}


class AggregatePlan(msgspec.Struct, frozen=True):
    """A grouped read's page query, its `$count` when asked, and what to do with the answer."""

    query: AggregateQuery
    page_size: int
    delivered: int
    more_possible: bool
    count: AggregateQuery | None = None


def _bind_error(message: str, position: int) -> InvalidQuery:
    return InvalidQuery(f"{message} at position {position} in $apply", target="$apply", position=position)


def _output_column(aggregate: Aggregate, source: Column | None) -> Column:
    """The grouped result's column for an aggregate: named by its alias, typed by its method."""
    name = aggregate.alias
    if aggregate.method in ("count", "countdistinct"):
        return Column(name, name, "integer", "bigint")
    assert source is not None
    if aggregate.method == "average":
        kind: TypeKind = "float" if source.kind == "float" else "decimal"
        return Column(name, name, kind, "decimal(38,6)", nullable=True, precision=38, scale=6)
    if aggregate.method == "sum":
        sql_type = "bigint" if source.kind == "integer" else source.sql_type
        return Column(name, name, source.kind, sql_type, nullable=True, precision=source.precision, scale=source.scale)
    # min and max are values of the column: a date stays a date.
    return msgspec.structs.replace(source, sql_name=name, name=name, nullable=True, number=None, known=True)


def _aggregate_column(table: Table, aggregate: Aggregate) -> AggregateColumn:
    if aggregate.property is None:
        return AggregateColumn("count", None, _output_column(aggregate, None))
    source = table.column(aggregate.property)
    if source is None:
        raise _bind_error(f"Unknown property {aggregate.property!r} of {table.resource!r}", aggregate.position)
    value_type = column_value_type(source)
    if value_type not in _METHOD_TYPES[aggregate.method]:
        raise _bind_error(
            f"Cannot aggregate the {value_type} property {source.name!r} with {aggregate.method!r}",
            aggregate.position,
        )
    return AggregateColumn(aggregate.method, source, _output_column(aggregate, source))


def _groups(table: Table, step: GroupByStep) -> tuple[Column, ...]:
    columns: list[Column] = []
    for item in step.properties:
        column = table.column(item.name)
        if column is None:
            raise _bind_error(f"Unknown property {item.name!r} of {table.resource!r} in groupby", item.position)
        if column.kind == "binary":
            raise _bind_error(f"Cannot group by the binary property {column.name!r}", item.position)
        columns.append(column)
    return tuple(columns)


def _check_aliases(table: Table, groups: tuple[Column, ...], aggregates: tuple[Aggregate, ...]) -> None:
    """Aliases are unique, and name no property of the table nor a column of the grouped result."""
    taken = {column.sql_name.lower() for column in groups}
    seen: set[str] = set()
    for aggregate in aggregates:
        lowered = aggregate.alias.lower()
        if lowered in seen:
            raise _bind_error(f"The alias {aggregate.alias!r} is given twice", aggregate.position)
        if table.column(aggregate.alias) is not None or lowered in taken:
            raise _bind_error(
                f"The alias {aggregate.alias!r} is the name of a property of {table.resource!r}", aggregate.position
            )
        seen.add(lowered)


def _and(left: Expression | None, right: Expression) -> Expression:
    return right if left is None else BoolOp("and", left, right)


def grouped_table(table: Table, groups: tuple[Column, ...], aggregates: tuple[AggregateColumn, ...]) -> Table:
    """The grouped result as a table: what `$filter` and `$orderby` after grouping are checked against."""
    return Table(
        sql_name=table.sql_name,
        name=table.name,
        resource=table.resource,
        columns=groups + tuple(aggregate.output for aggregate in aggregates),
        key=groups,
    )


def _order(result: Table, options: QueryOptions, groups: tuple[Column, ...]) -> tuple[OrderColumn, ...]:
    """`$orderby` over the grouped result, then the group keys not yet in it, so the order is total."""
    order: list[OrderColumn] = []
    for item in options.order_by:
        column = result.column(item.name)
        if column is None:
            raise InvalidQuery(
                f"$orderBy names {item.name!r}, which is neither a group property nor an alias of $apply",
                target="$orderBy",
                position=item.position,
            )
        order.append(OrderColumn(column, item.descending))
    used = {entry.column.sql_name for entry in order}
    order.extend(OrderColumn(column) for column in groups if column.sql_name not in used)
    return tuple(order)


def plan_aggregate(
    table: Table, apply: Apply, options: QueryOptions, *, page_size: int, token: PageToken | None
) -> AggregatePlan:
    """The grouped read for one page of a list request with `$apply`.

    Raises:
        InvalidQuery: an unknown property, a method that does not fit its column, an alias given
            twice or naming a property, a chain one GROUP BY cannot answer, `$select` beside `$apply`.
        InvalidSkipToken: a token whose values do not fit this grouped result.
    """
    if options.select is not None:
        raise InvalidQuery("$select cannot be combined with $apply; groupby chooses the properties", target="$select")
    where: Expression | None = None
    having: Expression | None = None
    grouping: GroupByStep | AggregateStep | None = None
    groups: tuple[Column, ...] = ()
    aggregates: tuple[AggregateColumn, ...] = ()
    result: Table | None = None
    for step in apply.steps:
        match step:
            case FilterStep():
                if result is None:
                    where = _and(where, _bind_step_filter(step, table))
                else:
                    having = _and(having, _bind_step_filter(step, result))
            case GroupByStep() | AggregateStep():
                if grouping is not None:
                    raise _bind_error(
                        "$apply takes one groupby or aggregate (a filter may come before and after it)", step.position
                    )
                grouping = step
                groups = _groups(table, step) if isinstance(step, GroupByStep) else ()
                _check_aliases(table, groups, step.aggregates)
                aggregates = tuple(_aggregate_column(table, aggregate) for aggregate in step.aggregates)
                result = grouped_table(table, groups, aggregates)
    if result is None:
        raise InvalidQuery(
            "$apply without groupby or aggregate is not supported; write filter() as $filter", target="$apply"
        )
    if options.filter is not None:
        having = _and(having, bind_filter(options.filter, result))
    order = _order(result, options, groups)
    delivered, take, more_possible = page_window(options.top, token, page_size)
    more_possible = more_possible and bool(groups)  # without groups the result is one row
    seek = seek_values(order, token, of="grouped result") if token is not None else None
    query = AggregateQuery(
        table=table,
        groups=groups,
        aggregates=aggregates,
        result=result,
        where=where,
        having=having,
        order=order,
        limit=take + 1 if more_possible else take,
        offset=0 if token is not None else options.skip,
        seek=seek,
    )
    count = msgspec.structs.replace(query, order=(), limit=None, offset=0, seek=None) if options.count else None
    return AggregatePlan(query, take, delivered, more_possible, count)


def _bind_step_filter(step: FilterStep, table: Table) -> Expression:
    """A `filter()` of the chain checked against what it filters, its errors naming `$apply`."""
    try:
        return bind_filter(step.condition, table)
    except InvalidQuery as exc:
        raise InvalidQuery(f"In filter() of $apply: {exc.message}", target="$apply", position=step.position) from None


def apply_binding(database: str, table: Table, apply_text: str, options: QueryOptions, user: str) -> str:
    """The grouped query a token belongs to: company, resource, `$apply`, `$filter`, `$orderBy`, `$top`,
    `$count`, user."""
    return query_binding(
        database,
        table.resource,
        "$apply",
        apply_text,
        options.filter_text,
        options.order_by_text,
        options.top,
        options.count,
        user,
    )


def next_grouped_token(plan: AggregatePlan, rows: list[tuple[Any, ...]]) -> PageToken:
    """The token for the page after `rows` (the page just served): the last group's order values."""
    index = {column.sql_name: i for i, column in enumerate(plan.query.result.columns)}
    last = rows[-1]
    values = tuple(last[index[entry.column.sql_name]] for entry in plan.query.order)
    return PageToken(values, plan.delivered + len(rows))


_NUMBER_TYPES: dict[str, Callable[[str], Any]] = {"integer": int, "decimal": Decimal, "float": float}


def typed_rows(plan: AggregatePlan, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """`rows` with every aggregate a number of its column's kind.

    The SQLite ODBC driver reports an aggregate over an integer or decimal column (`MIN(x)`) as
    text; a page token must carry the number, lest the next page compare text with numbers.
    Aggregates only: group columns are read as the table declares them.
    """
    first = len(plan.query.groups)
    converters = [(first + i, _NUMBER_TYPES.get(a.output.kind)) for i, a in enumerate(plan.query.aggregates)]
    wanted = [(index, convert) for index, convert in converters if convert is not None]
    if not wanted or not any(isinstance(row[index], str) for row in rows for index, _ in wanted):
        return rows
    typed: list[tuple[Any, ...]] = []
    for row in rows:
        values = list(row)
        for index, convert in wanted:
            if isinstance(values[index], str):
                values[index] = convert(values[index])
        typed.append(tuple(values))
    return typed


def cut_grouped_page(
    plan: AggregatePlan, rows: list[tuple[Any, ...]], key: bytes, binding: str
) -> tuple[list[tuple[Any, ...]], str | None]:
    """The page's groups (aggregates typed, see `typed_rows`), and the signed token of the page
    after them when there is one."""
    rows = typed_rows(plan, rows)
    if not plan.more_possible or len(rows) <= plan.page_size:
        return rows, None
    page = rows[: plan.page_size]
    return page, sign_page_token(key, binding, next_grouped_token(plan, page))


def grouped_objects(plan: AggregatePlan, rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The grouped rows as JSON-ready objects keyed by group property and alias, in the result's order."""
    names = [column.name for column in plan.query.result.columns]
    return [dict(zip(names, row, strict=True)) for row in rows]
