"""The limit for this stack: the 100-row page with every trick redhorn uses, and nothing else.

`bench.floor` is the naive floor (every value becomes a Python object); this one is what the best
hand-written code on uvicorn + aiosqlite can do, so that "redhorn / limit floor" says how much of
redhorn's time is its own. A raw ASGI app (no framework, no routing), one read-only aiosqlite
connection opened as redhorn opens its own, SQLite writing each row as JSON in C with the GIL
released (`json_object`, cast to BLOB so the bytes reach Python undecoded), and the rows joined
into the whole body by one join. The property names and their order are redhorn's, from its
catalog, so the body is the one redhorn answers for `/api/9999/orders?$top=100&$orderBy=OrderNo desc`.
Run: DATA=data/F9999.db uvicorn bench.limit_floor:app --http httptools
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from pathlib import Path
from typing import Any

import aiosqlite

from bench.order_table import order_table
from redhorn.engines.sqlite import sqlite_uri
from redhorn.metadata import Table

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# SQLite functions take at most 127 arguments: json_object gets 63 name/value pairs at most.
PAIRS_PER_OBJECT = 63
PAGE_SIZE = 100
PREFIX = b'{"value":['
SUFFIX = b"]}"
CONTENT_TYPE = (b"content-type", b"application/json; odata.metadata=minimal")
NOT_FOUND = b'{"error":{"code":"NotFound","message":"Only /orders is served here"}}'


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def page_sql(table: Table) -> str:
    """One JSON object per row, newest order first, property names written into the text.

    Names as literals rather than parameters: the statement is prepared once and cached by the
    driver, so nothing is bound per request but the limit. Wide rows are spliced from several
    objects as redhorn splices them: every JSON value ends in a digit, letter or quote, so
    trimming one brace at each seam is exact.
    """
    pairs = [f"{quote_text(column.name)}, {quote_ident(column.sql_name)}" for column in table.columns]
    objects = [
        "json_object(" + ", ".join(pairs[start : start + PAIRS_PER_OBJECT]) + ")"
        for start in range(0, len(pairs), PAIRS_PER_OBJECT)
    ]
    if len(objects) == 1:
        spliced = objects[0]
    else:
        seams = [f"rtrim({objects[0]}, '}}')", *(f"trim({o}, '{{}}')" for o in objects[1:-1])]
        spliced = " || ',' || ".join([*seams, f"ltrim({objects[-1]}, '{{')"])
    order = ", ".join(f"{quote_ident(column.sql_name)} DESC" for column in table.key)
    return f"SELECT CAST({spliced} AS BLOB) FROM {quote_ident(table.sql_name)} ORDER BY {order} LIMIT ?"


def page_body(rows: Iterable[Any]) -> bytes:
    """`{"value":[row,row,...]}` by one join: the envelope rides on the first and last row."""
    texts = [row[0] for row in rows]
    if not texts:
        return PREFIX + SUFFIX
    texts[0] = PREFIX + texts[0]
    texts[-1] = texts[-1] + SUFFIX
    return b",".join(texts)


class LimitFloor:
    """The ASGI app: `/orders` answers the page, anything else a 404; the lifespan opens the connection."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.sql = ""
        self.connection: aiosqlite.Connection | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.answer(scope, send)
        elif scope["type"] == "lifespan":
            await self.lifespan(receive, send)

    async def answer(self, scope: Scope, send: Send) -> None:
        if scope["path"] != "/orders" or self.connection is None:
            status, body = 404, NOT_FOUND
        else:
            status, body = 200, page_body(await self.connection.execute_fetchall(self.sql, (PAGE_SIZE,)))
        headers = [CONTENT_TYPE, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def open(self) -> None:
        """The statement from redhorn's catalog, and the connection opened as redhorn opens its own."""
        self.sql = page_sql(order_table(self.database))
        self.connection = await aiosqlite.connect(sqlite_uri(self.database, "ro"), uri=True, check_same_thread=False)
        await self.connection.execute("PRAGMA query_only = 1")

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.open()
                except Exception as exc:  # uvicorn would otherwise serve on without the connection
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.connection is not None:
                    await self.connection.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


app = LimitFloor(Path(os.environ.get("DATA", "data/F9999.db")))
