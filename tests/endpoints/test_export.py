"""Streamed exports on both roots: NDJSON and CSV hold exactly the rows a direct query selects, in
its order, across keyset batches; bad requests are JSON errors; a client that leaves stops the reading."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from redhorn.application import create_app
from redhorn.endpoints._common import accepts_gzip
from redhorn.endpoints.export import CsvWriter, csv_text, negotiate
from redhorn.errors import NotAcceptable
from redhorn.metadata import Column
from redhorn.sql.select import SelectQuery
from tests.conftest import BASIC_DEMO, Server, http_scope, running_client

NDJSON = {"Accept": "application/x-ndjson"}


def direct(company_db: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(company_db) as connection:
        return connection.execute(sql, params).fetchall()


def lines(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.text.endswith("\n")
    return [json.loads(line) for line in response.text.splitlines()]


async def test_ndjson_holds_every_row_in_order_across_batches(settings_factory, demo_folder: Path, company_db: Path):
    """Batches of 100 over 10,000 lines: every row once, in the asked order, none lost at the seams."""
    async with running_client(settings_factory(Export={"BatchRows": 100}), demo_folder) as client:
        response = await client.get(
            "/api/9999/orderLines",
            params={"$select": "OrderNo,LineNo,AmountInCurrency", "$orderby": "AmountInCurrency desc"},
            headers=NDJSON,
        )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert response.headers["content-disposition"].lower() == 'attachment; filename="orderlines.ndjson"'
    got = [(row["OrderNo"], row["LineNo"], row["AmountInCurrency"]) for row in lines(response)]
    expected = direct(company_db, "SELECT OrdNo, LnNo, Am FROM OrdLn ORDER BY Am DESC, OrdNo, LnNo")
    assert len(got) == len(expected) > 1000
    assert got == [tuple(row) for row in expected]


async def test_format_option_filter_top_and_skip(client: httpx.AsyncClient, company_db: Path):
    response = await client.get(
        "/api/9999/orders",
        params={
            "$format": "ndjson",
            "$filter": "CustomerNo gt 10010",
            "$top": "150",
            "$skip": "5",
            "$select": "OrderNo",
        },
    )
    assert response.status_code == 200, response.text
    expected = direct(company_db, "SELECT OrdNo FROM Ord WHERE CustNo > 10010 ORDER BY OrdNo LIMIT 150 OFFSET 5")
    assert [row["OrderNo"] for row in lines(response)] == [row[0] for row in expected]
    assert list(lines(response)[0]) == ["OrderNo"]


async def test_ndjson_rows_are_the_objects_a_page_holds(client: httpx.AsyncClient):
    for root, path in (("api", "orders"), ("odata", "Orders")):
        page = await client.get(f"/{root}/9999/{path}", params={"$top": "20"})
        stream = await client.get(f"/{root}/9999/{path}", params={"$top": "20"}, headers=NDJSON)
        assert stream.status_code == 200, stream.text
        assert lines(stream) == page.json()["value"]
    odata = await client.get("/odata/9999/Orders", params={"$top": "3", "$select": "OrderDate"}, headers=NDJSON)
    assert all(row["OrderDate"] is None or row["OrderDate"][4] == "-" for row in lines(odata))


async def test_csv_opens_in_excel(settings_factory, demo_folder: Path, company_db: Path):
    """BOM, a header row, CRLF, the configured separator, and values as the database holds them."""
    async with running_client(settings_factory(Export={"CsvSeparator": ";"}), demo_folder) as client:
        response = await client.get(
            "/api/9999/orders",
            params={"$select": "OrderNo,Name,CustomerNo", "$top": "300"},
            headers={"Accept": "text/csv"},
        )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    body = response.content
    assert body.startswith(b"\xef\xbb\xbf") and b"\r\n" in body
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows[0] == ["OrderNo", "Name", "CustomerNo"]
    expected = direct(company_db, "SELECT OrdNo, Nm, CustNo FROM Ord ORDER BY OrdNo LIMIT 300")
    assert rows[1:] == [[str(a), "" if b is None else str(b), str(c)] for a, b, c in expected]


async def test_an_empty_csv_export_is_its_header(client: httpx.AsyncClient):
    response = await client.get("/api/9999/orders", params={"$format": "csv", "$top": "0", "$select": "OrderNo"})
    assert response.status_code == 200
    assert response.content == b"\xef\xbb\xbfOrderNo\r\n"
    empty = await client.get("/api/9999/orders", params={"$format": "ndjson", "$filter": "OrderNo lt 0"})
    assert empty.status_code == 200 and empty.content == b""


def test_csv_quotes_as_rfc_4180_asks():
    output = (Column("A", "A", "string", "varchar(9)"), Column("B", "B", "decimal", "decimal(9,2)"))
    query = SelectQuery(table=None, columns=output, output=output)  # type: ignore[arg-type]  # only output is read
    writer = CsvWriter(output, ",")
    from decimal import Decimal

    text = writer.batch((query, [('a,"b"\nc', Decimal("1E+2")), (None, Decimal("0.10"))]), ()).decode("utf-8")
    assert text == '\ufeffA,B\r\n"a,""b""\nc",100\r\n,0.10\r\n'
    assert list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))) == [
        ["A", "B"],
        ['a,"b"\nc', "100"],
        ["", "0.10"],
    ]
    assert csv_text(b"\x00\xff") == "AP8=" and csv_text(True) == "true"


@pytest.mark.parametrize(
    ("accept", "kind"),
    [
        (None, "json"),
        ("", "json"),
        ("*/*", "json"),
        ("application/json;odata.metadata=minimal", "json"),
        ("text/html,application/xhtml+xml,*/*;q=0.8", "json"),
        ("application/x-ndjson", "ndjson"),
        ("text/csv", "csv"),
        ("text/csv, */*;q=0.1", "csv"),
        ("application/json, text/csv", "json"),
        ("application/json;q=0.5, text/csv", "csv"),
        ("text/*, application/json;q=0.9", "csv"),
        ("*/*;q=0.5, application/x-ndjson", "ndjson"),
        ("application/json;q=0, text/csv;q=0.2", "csv"),
        ("application/json;q=x, text/csv", "csv"),
    ],
)
def test_accept_is_negotiated_by_quality_then_specificity(accept: str | None, kind: str):
    assert negotiate(accept, None) == kind


@pytest.mark.parametrize("accept", ["application/xml", "text/html", "application/json;q=0", "image/*"])
def test_an_accept_the_server_cannot_give_is_refused(accept: str):
    with pytest.raises(NotAcceptable):
        negotiate(accept, None)


async def test_not_acceptable_is_406_with_the_json_shape(client: httpx.AsyncClient):
    for path in ("/api/9999/orders", "/odata/9999/Orders"):
        response = await client.get(path, headers={"Accept": "application/xml"})
        assert response.status_code == 406, response.text
        assert response.json()["error"]["code"] == "NotAcceptable"
    explicit = await client.get("/api/9999/orders", params={"$format": "json"}, headers={"Accept": "application/xml"})
    assert explicit.status_code == 200  # $format decides over Accept


@pytest.mark.parametrize(
    ("params", "target"),
    [
        ({"$expand": "OrderLines"}, "$expand"),
        ({"$apply": "aggregate($count as N)"}, "$apply"),
        ({"$skiptoken": "abc"}, "$skiptoken"),
        ({"$filter": "Nope eq 1"}, None),
        ({"$format": "xml"}, "$format"),
    ],
)
async def test_what_a_stream_cannot_take_is_400(client: httpx.AsyncClient, params: dict[str, str], target: str | None):
    for path in ("/api/9999/orders", "/odata/9999/Orders"):
        response = await client.get(path, params=params, headers=NDJSON)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        if target is not None:
            assert error["target"] == target


async def test_a_row_by_key_is_never_a_stream(client: httpx.AsyncClient):
    for path in ("/api/9999/orders/1", "/odata/9999/Orders(1)"):
        response = await client.get(path, params={"$format": "csv"})
        assert response.status_code == 400 and response.json()["error"]["target"] == "$format"


async def test_a_client_that_leaves_stops_the_reading(settings_factory, demo_folder: Path):
    """The client takes one chunk and goes: the export reads a batch or two more, not the 100 a whole export needs."""
    app = create_app(settings_factory(Export={"BatchRows": 100}), root=demo_folder)
    async with app.router.lifespan_context(app):
        engine = app.state.redhorn.engine
        calls = 0
        fetch = engine.fetch

        async def counting(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            return await fetch(*args, **kwargs)

        engine.fetch = counting
        gone = asyncio.Event()
        chunks: list[bytes] = []

        async def receive() -> MutableMapping[str, Any]:
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                chunks.append(message["body"])
                gone.set()
                await asyncio.sleep(0.05)

        scope = http_scope(
            "GET",
            b"/api/9999/orderLines",
            b"",
            [(b"authorization", BASIC_DEMO), (b"accept", b"application/x-ndjson")],
        )
        await asyncio.wait_for(app(scope, receive, send), timeout=30)
        engine.fetch = fetch
    assert chunks, "the first batch was sent"
    assert calls <= 4, f"{calls} statements after the client left"


def test_a_whole_table_streams_over_tls_in_many_chunks(server: Server, company_db: Path):
    """Real uvicorn over real TLS: the answer arrives as it is read, chunk after chunk, and holds every row."""
    with (
        server.client() as client,
        client.stream("GET", "/api/9999/orderLines", params={"$select": "OrderNo,LineNo"}, headers=NDJSON) as answer,
    ):
        assert answer.status_code == 200
        assert answer.headers.get("transfer-encoding") == "chunked"
        chunks = [chunk for chunk in answer.iter_bytes() if chunk]
    body = b"".join(chunks)
    assert len(chunks) > 1
    got = [(row["OrderNo"], row["LineNo"]) for row in map(json.loads, body.splitlines())]
    assert got == direct(company_db, "SELECT OrdNo, LnNo FROM OrdLn ORDER BY OrdNo, LnNo")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.5", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0, br", False),
        ("gzip;q=x", False),
        ("br, zstd", False),
        ("", False),
        (None, False),
    ],
)
def test_documents_kept_gzipped_honour_quality_zero(header: str | None, expected: bool):
    assert accepts_gzip(header) is expected


async def test_odata_csv_writes_the_typed_values(client: httpx.AsyncClient, company_db: Path):
    response = await client.get(
        "/odata/9999/Orders", params={"$select": "OrderNo,OrderDate", "$top": "50"}, headers={"Accept": "text/csv"}
    )
    assert response.status_code == 200, response.text
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    stored = direct(company_db, "SELECT OrdNo, OrdDt FROM Ord ORDER BY OrdNo LIMIT 50")
    expected = [[str(n), f"{d // 10000:04d}-{d // 100 % 100:02d}-{d % 100:02d}" if d else ""] for n, d in stored]
    assert rows == [["OrderNo", "OrderDate"], *expected]
