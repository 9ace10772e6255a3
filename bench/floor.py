"""The floor for this stack: a hand-written Starlette endpoint running one fixed SQL statement.

No parsing, no metadata, no paging: one aiosqlite connection, the rows unpacked into a Struct type
made once, one msgspec encode. redhorn's full request path is measured against this: `/orders`
with every column of Ord (the whole model's Order), `/orders/narrow` with the 53 columns the
dictionary knew before it held the whole model (NARROW_COLUMNS, the same the bench's `$select`
names).
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
# The 53 SQL columns of Ord the hand-checked dictionary names (metadata/curated.json).
NARROW_COLUMNS = (
    "OrdNo",
    "OrdDt",
    "OrdTp",
    "TrTp",
    "CustNo",
    "SupNo",
    "Nm",
    "Ad1",
    "Ad2",
    "Ad3",
    "PNo",
    "PArea",
    "DelNm",
    "DelAd1",
    "DelAd2",
    "DelAd3",
    "DelPNo",
    "DelPArea",
    "DelMt",
    "DelTrm",
    "DelDt",
    "CSOrdNo",
    "Inf",
    "Inf2",
    "Inf3",
    "Inf4",
    "Inf5",
    "Inf6",
    "YrRef",
    "OurRef",
    "Cur",
    "ExRt",
    "SelBuy",
    "PmtTrm",
    "R1",
    "R2",
    "Gr",
    "Gr12",
    "TransGr",
    "TransGr2",
    "CtrAm",
    "OrdSum",
    "NoteNm",
    "LiaActNo",
    "DelActNo",
    "ShpActNo",
    "InvoNo",
    "InvoCust",
    "MainOrd",
    "OrdBasNo",
    "ArDt",
    "Free1",
    "WebPg",
)
NARROW_SQL = "SELECT " + ", ".join(f'"{c}"' for c in NARROW_COLUMNS) + " FROM Ord ORDER BY OrdNo DESC LIMIT ?"
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
    app.state.narrow_row = msgspec.defstruct("NarrowRow", [(name, Any) for name in NARROW_COLUMNS])
    yield
    await connection.close()


async def orders(request: Request) -> Response:
    rows = await request.app.state.connection.execute_fetchall(SQL, (100,))
    body = encoder.encode(Envelope(list(itertools.starmap(request.app.state.row, rows))))
    return Response(body, media_type="application/json")


async def narrow_orders(request: Request) -> Response:
    rows = await request.app.state.connection.execute_fetchall(NARROW_SQL, (100,))
    body = encoder.encode(Envelope(list(itertools.starmap(request.app.state.narrow_row, rows))))
    return Response(body, media_type="application/json")


app = Starlette(routes=[Route("/orders", orders), Route("/orders/narrow", narrow_orders)], lifespan=lifespan)
