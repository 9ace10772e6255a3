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
from redhorn.query.plan import plan_key_prefix
from redhorn.query.prepared import PreparedList
from redhorn.sql.compiler import compile_select
from redhorn.sql.select import SelectQuery

Rows = list[tuple[Any, ...]]


async def fetch_page(
    engine: Engine, database: str, prepared: PreparedList, *, timeout: float
) -> tuple[Rows, int | None]:
    """The page's rows (one more than the page when another may follow) and `$count` when asked."""
    if prepared.count_statement is None:
        return await engine.fetch(database, prepared.statement, timeout=timeout), None
    rows, count_rows = await asyncio.gather(
        engine.fetch(database, prepared.statement, timeout=timeout),
        engine.fetch(database, prepared.count_statement, timeout=timeout),
    )
    return rows, int(count_rows[0][0])


async def read_row(engine: Engine, database: str, query: SelectQuery, *, timeout: float) -> bytes | None:
    """The JSON of the one row a by-key query finds, or None (on the lookup lane: scans never delay it)."""
    rows = await engine.fetch(database, compile_select(engine.dialect, query), timeout=timeout, lane="lookup")
    if not rows:
        return None
    return bytes(rows[0][0]) if query.json_rows else encode_row(query.output, rows[0])


async def read_rows_by_key_prefix(
    engine: Engine, database: str, table: Table, values: dict[str, Any], *, limit: int, timeout: float
) -> list[bytes]:
    """The JSON of every row whose leading key properties hold `values` (an order's lines), in key order."""
    query = plan_key_prefix(table, values, limit=limit, json_rows=engine.dialect.renders_json_rows)
    rows = await engine.fetch(database, compile_select(engine.dialect, query), timeout=timeout)
    width = len(query.output)
    return [bytes(row[0]) if query.json_rows else encode_row(query.output, row[:width]) for row in rows]
