"""The floor for this stack: a hand-written Starlette endpoint running one fixed SQL statement.

No parsing, no metadata, no paging: one aiosqlite connection, the rows unpacked into a Struct type
made once, one msgspec encode. redhorn's full request path is measured against this.
Run: DATA=data/F9999.db uvicorn bench.floor:app
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from redhorn.engines.sqlite import sqlite_uri

SQL = "SELECT * FROM Ord ORDER BY OrdNo DESC LIMIT ?"
encoder = msgspec.json.Encoder(decimal_format="number")


class Envelope(msgspec.Struct):
    value: list[Any]


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    connection = await aiosqlite.connect(sqlite_uri(Path(os.environ["DATA"]), "ro"), uri=True)
    cursor = await connection.execute(SQL, (1,))
    names = [column[0] for column in cursor.description]
    await cursor.close()
    app.state.connection = connection
    app.state.row = msgspec.defstruct("Row", [(name, Any) for name in names])
    yield
    await connection.close()


async def orders(request: Request) -> Response:
    rows = await request.app.state.connection.execute_fetchall(SQL, (100,))
    body = encoder.encode(Envelope(list(itertools.starmap(request.app.state.row, rows))))
    return Response(body, media_type="application/json")


app = Starlette(routes=[Route("/orders", orders)], lifespan=lifespan)
