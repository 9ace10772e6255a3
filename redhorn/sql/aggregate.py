"""Compile a planned `$apply` aggregation into one GROUP BY statement for a dialect.

Two shapes, the same for every engine:

- flat, when nothing filters or sorts on an aggregate:
  `SELECT g1, g2, SUM(x) AS a FROM t WHERE <filter> AND <seek on g1, g2> GROUP BY g1, g2
  ORDER BY g1, g2` with the dialect's paging.
- derived, when a condition (`filter()` after the grouping, `$filter`) or the order names an
  aggregate: the flat statement becomes a derived table and the outer query filters and sorts on
  its columns. T-SQL lets no HAVING name a select alias, and a derived table keeps both dialects
  on one text.

Where the page's seek goes: a group key is the same on every row of its group (as its column's
collation compares it), so a condition on group keys alone keeps or drops whole groups, and
testing it on the rows before grouping (WHERE) answers what testing it on the groups after
grouping does. Before grouping, the rows of groups already delivered are neither sorted nor
summed again (SQLite's GROUP BY sorts every row it reads, so that is most of a later page's
cost), and an index on the group keys serves the seek; neither engine can be relied on to move a
condition on a derived table's columns into its GROUP BY (SQLite 3.40 does not). So the seek goes
before grouping whenever the order is group keys only, which it is unless `$orderby` names an
aggregate. When it names one, the seek stays on the grouped result (a total is no row's value),
and only the bound of a leading group key, if the order starts with one, goes before grouping too.

Identifiers come from the metadata and from aliases the planner checked, always through
`dialect.quote_ident`; values only as parameters. Conditions are compiled by the `$filter`
compiler (`compile_condition`, `compile_seek`) against the table they are bound to: the source
table before grouping, the grouped result (`AggregateQuery.result`) after it.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from redhorn.metadata import Column, Table
from redhorn.odata.ast import Expression
from redhorn.sql.compiler import compile_condition, compile_order_and_paging, compile_seek
from redhorn.sql.dialect import Dialect
from redhorn.sql.select import OrderColumn
from redhorn.sql.statement import Statement

AggregateFunction = Literal["sum", "min", "max", "average", "countdistinct", "count"]
# The derived table's name in the derived shape.
GROUPED = "grouped"


class AggregateColumn(msgspec.Struct, frozen=True):
    """One aggregate: `method` of `source` (None for `$count`), read as the result's column `output`."""

    method: AggregateFunction
    source: Column | None
    output: Column


class AggregateQuery(msgspec.Struct, frozen=True):
    """A grouped read of one table, ready for a dialect to compile.

    `result` is the grouped result as a table: the group columns (as the source table has them)
    then one column per aggregate, named by its alias. `having`, `order` and `seek` are bound to
    `result`; `where` to `table`.
    """

    table: Table
    groups: tuple[Column, ...]
    aggregates: tuple[AggregateColumn, ...]
    result: Table
    where: Expression | None = None
    having: Expression | None = None
    order: tuple[OrderColumn, ...] = ()
    limit: int | None = None
    offset: int = 0
    seek: tuple[Any, ...] | None = None

    @property
    def derived(self) -> bool:
        """Whether the statement needs the derived shape: something names an aggregate after grouping."""
        aliases = {aggregate.output.sql_name for aggregate in self.aggregates}
        return self.having is not None or any(entry.column.sql_name in aliases for entry in self.order)

    @property
    def leading_group_keys(self) -> int:
        """How many columns at the head of the order are group keys: conditions on them alone
        keep or drop whole groups, so they can be tested before grouping."""
        keys = {column.sql_name for column in self.groups}
        count = 0
        for entry in self.order:
            if entry.column.sql_name not in keys:
                break
            count += 1
        return count

    @property
    def seek_after_grouping(self) -> bool:
        """Whether the seek must be tested on the grouped result: the order names an aggregate."""
        return self.seek is not None and self.leading_group_keys < len(self.order)


def _aggregate_sql(dialect: Dialect, aggregate: AggregateColumn) -> str:
    """The SQL of one aggregate.

    Integers are summed as BIGINT (T-SQL's SUM of int overflows at 2^31) and averaged as decimals
    (T-SQL's AVG of integers divides as integers, OData's average does not); a decimal column is
    read as the dialect reads it in a select list (SQLite's as REAL, so that every driver sees a number).
    """
    if aggregate.method == "count":
        return "COUNT(*)"
    source = aggregate.source
    assert source is not None, "only $count has no source column"
    column = dialect.select_column(source.sql_name, source.kind)
    match aggregate.method:
        case "sum":
            return f"SUM(CAST({column} AS BIGINT))" if source.kind == "integer" else f"SUM({column})"
        case "average":
            return f"AVG(CAST({column} AS DECIMAL(38, 6)))" if source.kind == "integer" else f"AVG({column})"
        case "min":
            return f"MIN({column})"
        case "max":
            return f"MAX({column})"
        case "countdistinct":
            return f"COUNT(DISTINCT {dialect.quote_ident(source.sql_name)})"


def _grouped_select(dialect: Dialect, query: AggregateQuery, prefix: str, seek: bool, params: list[Any]) -> str:
    """`SELECT g.., aggregates FROM t WHERE .. GROUP BY g..`, parameters appended in text order;
    with `seek`, the WHERE holds what of the page's seek can be tested before grouping."""
    selected: list[str] = []
    for column in query.groups:
        read = dialect.select_column(column.sql_name, column.kind)
        name = dialect.quote_ident(column.sql_name)
        selected.append(read if read == name else f"{read} AS {name}")
    for aggregate in query.aggregates:
        selected.append(f"{_aggregate_sql(dialect, aggregate)} AS {dialect.quote_ident(aggregate.output.sql_name)}")
    sql = f"SELECT {prefix}{', '.join(selected)} FROM {dialect.table_ref(query.table.sql_name)}"
    conditions: list[str] = []
    if query.where is not None:
        conditions.append(compile_condition(dialect, query.table, query.where, params))
    if seek:
        before = _seek_before_grouping(dialect, query, params)
        if before is not None:
            conditions.append(before)
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    if query.groups:
        sql += " GROUP BY " + ", ".join(dialect.quote_ident(column.sql_name) for column in query.groups)
    return sql


def _seek_before_grouping(dialect: Dialect, query: AggregateQuery, params: list[Any]) -> str | None:
    """What of the page's seek a WHERE on the source rows can test, or None.

    All of it when the order is group keys only (then nothing after grouping needs it); when the
    order names an aggregate, only the bound of its first column if that is a group key: the rows
    of groups sorted wholly before the last page's, which no later page can hold.
    """
    if query.seek is None:
        return None
    if not query.seek_after_grouping:
        return compile_seek(dialect, query.order, query.seek, params)
    if query.leading_group_keys == 0:
        return None
    return _at_or_after(dialect, query.order[0], query.seek[0], params)


def _at_or_after(dialect: Dialect, entry: OrderColumn, value: Any, params: list[Any]) -> str | None:
    """Rows whose `entry` column sorts at `value` or after it, or None when every row does.

    NULL sorts first ascending and last descending, in SQLite and SQL Server alike.
    """
    name = dialect.quote_ident(entry.column.sql_name)
    if value is None:
        return f"{name} IS NULL" if entry.descending else None
    params.append(value)
    if not entry.descending:
        return f"{name} >= ?"
    return f"({name} <= ? OR {name} IS NULL)" if entry.column.nullable else f"{name} <= ?"


def _order_and_paging(dialect: Dialect, query: AggregateQuery, params: list[Any]) -> str:
    return compile_order_and_paging(dialect, query.order, query.limit, query.offset, params)


def compile_aggregate(dialect: Dialect, query: AggregateQuery) -> Statement:
    """One page of the grouped result: its columns are `query.result.columns`, in order."""
    params: list[Any] = []
    prefix, prefix_params = dialect.select_prefix(query.limit, query.offset)
    params.extend(prefix_params)
    if not query.derived:
        sql = _grouped_select(dialect, query, prefix, True, params)
        sql += _order_and_paging(dialect, query, params)
        return Statement(sql, tuple(dialect.adapt_parameter(value) for value in params))
    inner = _grouped_select(dialect, query, "", True, params)
    outer_columns = ", ".join(dialect.quote_ident(column.sql_name) for column in query.result.columns)
    sql = f"SELECT {prefix}{outer_columns} FROM ({inner}) AS {dialect.quote_ident(GROUPED)}"
    conditions: list[str] = []
    if query.having is not None:
        conditions.append(compile_condition(dialect, query.result, query.having, params))
    if query.seek is not None and query.seek_after_grouping:
        conditions.append(compile_seek(dialect, query.order, query.seek, params))
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    sql += _order_and_paging(dialect, query, params)
    return Statement(sql, tuple(dialect.adapt_parameter(value) for value in params))


def compile_aggregate_count(dialect: Dialect, query: AggregateQuery) -> Statement:
    """`$count` of a grouped read: how many groups the whole result has (not a page)."""
    params: list[Any] = []
    inner = _grouped_select(dialect, query, "", False, params)
    source = f"({inner}) AS {dialect.quote_ident(GROUPED)}"
    if query.having is not None:
        source += " WHERE " + compile_condition(dialect, query.result, query.having, params)
    return Statement(dialect.count_sql(source), tuple(dialect.adapt_parameter(value) for value in params))
