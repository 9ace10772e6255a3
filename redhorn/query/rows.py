"""Running a planned read: a page (with its count), one row by key, rows by a key prefix.

Functions take the engine and what the statement needs, not the application's state, so a
write's read-back and a GET use the same code and the same statements.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redhorn.encoding import encode_row
from redhorn.engines.base import Engine
from redhorn.metadata import Table
from redhorn.odata.apply import parse_apply
from redhorn.odata.parser import QueryLimits, QueryOptions
from redhorn.query.aggregate import AggregatePlan, apply_binding, cut_grouped_page, plan_aggregate
from redhorn.query.paging import PageToken, verify_page_token
from redhorn.query.plan import plan_key_prefix, plan_key_values
from redhorn.query.prepared import PreparedList
from redhorn.sql.aggregate import compile_aggregate, compile_aggregate_count
from redhorn.sql.compiler import compile_select
from redhorn.sql.select import SelectQuery

Rows = list[tuple[Any, ...]]


async def fetch_page(
    engine: Engine, database: str, prepared: PreparedList, *, timeout: float
) -> tuple[Rows, int | None]:
    """The page's rows (one more than the page when another may follow) and `$count` when asked."""
    json_rows = prepared.plan.query.json_rows
    if prepared.count_statement is None:
        rows = await engine.fetch(database, prepared.statement, timeout=timeout)
        return (engine.dialect.json_row_bytes(rows) if json_rows else rows), None
    rows, count_rows = await asyncio.gather(
        engine.fetch(database, prepared.statement, timeout=timeout),
        engine.fetch(database, prepared.count_statement, timeout=timeout),
    )
    return (engine.dialect.json_row_bytes(rows) if json_rows else rows), int(count_rows[0][0])


async def read_row(engine: Engine, database: str, query: SelectQuery, *, timeout: float) -> bytes | None:
    """The JSON of the one row a by-key query finds, or None (on the lookup lane: scans never delay it)."""
    rows = await engine.fetch(database, compile_select(engine.dialect, query), timeout=timeout, lane="lookup")
    if not rows:
        return None
    return bytes(engine.dialect.json_row_bytes(rows)[0][0]) if query.json_rows else encode_row(query.output, rows[0])


async def read_rows_by_key_prefix(
    engine: Engine, database: str, table: Table, values: dict[str, Any], *, limit: int, timeout: float
) -> list[bytes]:
    """The JSON of every row whose leading key properties hold `values` (an order's lines), in key order."""
    query = plan_key_prefix(table, values, limit=limit, json_rows=engine.dialect.renders_json_rows)
    rows = await engine.fetch(database, compile_select(engine.dialect, query), timeout=timeout)
    if query.json_rows:
        rows = engine.dialect.json_row_bytes(rows)
    width = len(query.output)
    return [bytes(row[0]) if query.json_rows else encode_row(query.output, row[:width]) for row in rows]


async def read_rows_by_key_values(
    engine: Engine, database: str, table: Table, values: tuple[Any, ...], *, limit: int, timeout: float
) -> list[tuple[tuple[Any, ...], bytes]]:
    """Every row whose first key property holds one of `values`, as (its key values, its JSON), in key order.

    The JSON is what `read_row` and `read_rows_by_key_prefix` give for the same row.
    """
    query = plan_key_values(table, values, limit=limit, json_rows=engine.dialect.renders_json_rows)
    rows = await engine.fetch(database, compile_select(engine.dialect, query), timeout=timeout)
    width = len(table.key)
    if query.json_rows:
        return [(tuple(row[1 : 1 + width]), bytes(row[0])) for row in engine.dialect.json_row_bytes(rows)]
    positions = [query.output.index(column) for column in table.key]
    output = len(query.output)
    return [(tuple(row[p] for p in positions), encode_row(query.output, row[:output])) for row in rows]


async def fetch_grouped(
    engine: Engine,
    database: str,
    table: Table,
    options: QueryOptions,
    limits: QueryLimits,
    token_key: bytes,
    user: str,
    *,
    page_size: int,
    timeout: float,
) -> tuple[AggregatePlan, Rows, str | None, int | None]:
    """A page of `$apply`'s groups, the next page's token when there is one, and `$count` when asked.

    Grouped pages are not cached as first pages are: each `$apply` text plans afresh.

    Raises:
        InvalidQuery: a transformation, property or aggregate that does not fit the table.
        InvalidSkipToken: a token this server did not make for this very grouped query and user.
    """
    assert options.apply_text is not None
    apply = parse_apply(options.apply_text, limits)
    binding = apply_binding(database, table, options.apply_text, options, user)
    token: PageToken | None = None
    if options.skiptoken is not None:
        token = verify_page_token(token_key, binding, options.skiptoken)
    plan = plan_aggregate(table, apply, options, page_size=page_size, token=token)
    statement = compile_aggregate(engine.dialect, plan.query)
    count: int | None = None
    if plan.count is None:
        rows = await engine.fetch(database, statement, timeout=timeout)
    else:
        rows, counted = await asyncio.gather(
            engine.fetch(database, statement, timeout=timeout),
            engine.fetch(database, compile_aggregate_count(engine.dialect, plan.count), timeout=timeout),
        )
        count = int(counted[0][0])
    page, next_token = cut_grouped_page(plan, [tuple(row) for row in rows], token_key, binding)
    return plan, page, next_token, count
