"""The floor for writes over HTTP: a hand-written Starlette endpoint inserting the body's row.

No authentication, no metadata, no business rules, no number series table, no read-back: the
JSON body decoded, the next key taken as MAX + 1 and the row (with its lines) inserted in one
transaction by one aiosqlite connection, the body echoed back with 201. What redhorn adds on top
of HTTP, JSON and SQLite is measured against this.
Run: DATA=/path/F9999.db uvicorn bench.write_floor:app
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import aiosqlite
import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# The demo's columns for the properties the benchmark's bodies name.
ASSOCIATE = {"Name": "Nm", "AddressLine1": "Ad1", "PostCode": "PNo", "CountryNo": "Ctry"}
ORDER = {"CustomerNo": "CustNo", "OrderDate": "OrdDt"}
LINE = {"ProductNo": "ProdNo", "Quantity": "NoInvoAb"}


def _insert(
    table: str, key: str, names: dict[str, str], document: dict[str, Any], extra: dict[str, Any]
) -> tuple[str, list[Any]]:
    columns = [key, *extra, *(names[name] for name in document if name in names)]
    values = [*extra.values(), *(value for name, value in document.items() if name in names)]
    return f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({", ".join("?" * len(columns))})', values


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    connection = await aiosqlite.connect(os.environ["DATA"], isolation_level=None)
    await connection.execute("PRAGMA journal_mode = WAL")
    await connection.execute("PRAGMA synchronous = NORMAL")
    app.state.connection = connection
    app.state.lock = asyncio.Lock()  # one transaction at a time on the one connection
    yield
    await connection.close()


async def _insert_head(
    connection: aiosqlite.Connection, table: str, key_column: str, names: dict[str, str], document: dict[str, Any]
) -> int:
    """The next key as MAX + 1, and the row inserted under it (the caller holds the transaction)."""
    cursor = await connection.execute(f'SELECT MAX("{key_column}") + 1 FROM "{table}"')
    (key,) = await cursor.fetchone()  # type: ignore[misc]
    sql, values = _insert(table, key_column, names, document, {})
    await connection.execute(sql, [key, *values])
    return int(key)


async def associates(request: Request) -> Response:
    document = msgspec.json.decode(await request.body())
    connection: aiosqlite.Connection = request.app.state.connection
    async with request.app.state.lock:
        await connection.execute("BEGIN IMMEDIATE")
        key = await _insert_head(connection, "Actor", "ActNo", ASSOCIATE, document)
        await connection.execute("COMMIT")
    body = {"value": {"AssociateNo": key, **document}}
    return Response(msgspec.json.encode(body), 201, media_type="application/json")


async def orders(request: Request) -> Response:
    document = msgspec.json.decode(await request.body())
    lines = document.pop("OrderLines", [])
    connection: aiosqlite.Connection = request.app.state.connection
    async with request.app.state.lock:
        await connection.execute("BEGIN IMMEDIATE")
        key = await _insert_head(connection, "Ord", "OrdNo", ORDER, document)
        rows = [_insert("OrdLn", "OrdNo", LINE, line, {"LnNo": n}) for n, line in enumerate(lines, start=1)]
        if rows:
            await connection.executemany(rows[0][0], [[key, *values] for _, values in rows])
        await connection.execute("COMMIT")
    body = {"value": {"OrderNo": key, **document, "OrderLines": lines}}
    return Response(msgspec.json.encode(body), 201, media_type="application/json")


app = Starlette(
    routes=[
        Route("/api/9999/associates", associates, methods=["POST"]),
        Route("/api/9999/orders", orders, methods=["POST"]),
    ],
    lifespan=lifespan,
)
