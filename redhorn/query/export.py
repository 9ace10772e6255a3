"""A whole filtered, sorted result read in keyset batches, for streamed exports.

An export answers with every row a list request selects, however many, in one response. Reading
them in one statement would hold the whole result (or a connection) for as long as the client
takes to read it; reading them as the pages of a pull would repeat a client's round trips inside
the server. So the rows are read as pages are, batch after batch, each batch seeking past the last
row of the one before on the order's columns (the key always among them): every statement is
short, memory holds one batch, and a row is delivered once even while others are written.

The caller encodes and sends each batch before the next is read, so a client that reads slowly
slows the reading, and a client that leaves stops it (the caller's task is cancelled, and the
statement in flight with it).

No HTTP here: the endpoint negotiates the format and streams what this yields.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from redhorn.engines.base import Engine
from redhorn.metadata import Table
from redhorn.odata.parser import QueryOptions
from redhorn.query.paging import PageToken, next_page_token
from redhorn.query.plan import plan_list
from redhorn.sql.compiler import compile_select
from redhorn.sql.select import SelectQuery

Batch = tuple[SelectQuery, list[tuple[Any, ...]]]


async def export_batches(
    engine: Engine,
    database: str,
    table: Table,
    options: QueryOptions,
    *,
    batch_rows: int,
    json_rows: bool,
    timeout: float,
) -> AsyncIterator[Batch]:
    """Every row `options` select, in their order, as (query, rows) batches of at most `batch_rows`.

    `query` says how the rows read: the engine's JSON first when `json_rows` took, then values.
    `$top` bounds the whole export; `$skip` skips rows before the first.

    Raises:
        InvalidQuery: unknown properties or a filter that does not fit the table (before any row).
    """
    token: PageToken | None = None
    while True:
        plan = plan_list(table, options, page_size=batch_rows, token=token, json_rows=json_rows)
        if plan.page_size == 0:
            return
        rows = await engine.fetch(database, compile_select(engine.dialect, plan.query), timeout=timeout)
        if plan.query.json_rows:
            rows = engine.dialect.json_row_bytes(rows)
        batch = rows[: plan.page_size]
        if batch:
            yield plan.query, batch
        if not plan.more_possible or len(rows) <= plan.page_size:
            return
        token = next_page_token(plan, batch)
