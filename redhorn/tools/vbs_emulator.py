"""`redhorn vbs-emulator`: a stand-in for the bridge on the Visma host, answering the write contract.

It takes a `WriteRequest` in its JSON form (`vbs-write.schema.json`) at any path, checks the
integration user's credentials (HTTP Basic, as the transport sends them), runs the request with
the embedded executor against the company's SQLite database, and answers a `WriteResult`; an
error becomes a message with redhorn's error code, as a real bridge reports what VBS refused.
It lets the whole write path, transport included, run on one machine: the test suite runs every
write test a second time through it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from redhorn.catalog.crawler import crawl
from redhorn.catalog.dictionary import load_dictionary
from redhorn.engines.sqlite import SqliteEngine
from redhorn.errors import ApiError, CompanyNotFound
from redhorn.metadata import Database, Metadata, company_database_name
from redhorn.writers.embedded import EmbeddedExecutor
from redhorn.writers.model import WriteRequest, WriteResult
from redhorn.writers.vbs import error_message

_request_decoder = msgspec.json.Decoder(WriteRequest, float_hook=Decimal)
_encoder = msgspec.json.Encoder(decimal_format="number")


def _authorised(request: Request, user: str, password: str) -> bool:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given_user, _, given_password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return hmac.compare_digest(given_user.encode(), user.encode()) & hmac.compare_digest(
        given_password.encode(), password.encode()
    )


def create_emulator(folder: Path, user: str, password: str) -> Starlette:
    """The emulator's ASGI app over the SQLite databases in `folder`."""
    engine = SqliteEngine(folder)
    holder: dict[str, Metadata] = {}

    def database_of(name: str) -> Database:
        return holder["metadata"].databases[name]

    executor = EmbeddedExecutor(engine.path_of, database_of)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        holder["metadata"] = await crawl(engine, load_dictionary())
        try:
            yield
        finally:
            await executor.close()
            await engine.close()

    async def dispatch(request: Request) -> Response:
        if not _authorised(request, user, password):
            return Response(b'{"error":"unauthorised"}', status_code=401, media_type="application/json")
        try:
            write = _request_decoder.decode(await request.body())
        except msgspec.DecodeError as exc:
            return Response(_encoder.encode({"error": str(exc)}), status_code=400, media_type="application/json")
        database = company_database_name(write.context.company_no)
        try:
            if database not in holder["metadata"].databases:
                raise CompanyNotFound(f"Company {write.context.company_no} does not exist")
            result = await executor.execute(database, write)
        except ApiError as error:
            result = WriteResult(messages=(error_message(error),))
        return Response(_encoder.encode(result), media_type="application/json")

    return Starlette(routes=[Route("/{path:path}", dispatch, methods=["POST"])], lifespan=lifespan)
