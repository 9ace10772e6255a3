"""Compression by `Accept-Encoding`, end to end over TLS: codings, sizes, q-values, ETags, HEAD, 304, streams."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import ssl
import threading
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import brotli
import httpx
import pytest
import uvicorn
import zstandard
from starlette.applications import Starlette
from starlette.authentication import AuthCredentials, AuthenticationBackend, BaseUser
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from redhorn.application import middleware_stack
from redhorn.endpoints import export
from redhorn.endpoints.docs import SPEC_PATH
from redhorn.middleware.compression import STREAMED_TYPES
from redhorn.server.tls import make_development_certificate
from redhorn.settings import Settings, parse_settings
from redhorn.tools.demo.build import build_demo
from tests.conftest import TEST_SCALE, Server, free_port, settings_document, start_server

CODINGS = ["gzip", "br", "zstd"]
PAGE = "/api/9999/orders?$top=200&$orderBy=OrderNo"  # every column: about 1.4 MB
ROW = "/api/9999/orders/{}"  # every column of one order: several kB, over MinimumBytes


def decode(coding: str, raw: bytes) -> bytes:
    """The bytes `raw` encodes with `coding`, decoded by each codec's reference library."""
    if coding == "gzip":
        return gzip.decompress(raw)
    if coding == "br":
        return bytes(brotli.decompress(raw))
    return zstandard.ZstdDecompressor().decompressobj().decompress(raw)


def incremental_decoder(coding: str) -> Callable[[bytes], bytes]:
    """A function decoding one chunk of a `coding` stream after another, returning what each adds."""
    if coding == "gzip":
        return zlib.decompressobj(31).decompress
    if coding == "br":
        decompressor = brotli.Decompressor()

        def process(chunk: bytes) -> bytes:
            out: bytes = decompressor.process(chunk)
            return out

        return process
    return zstandard.ZstdDecompressor().decompressobj().decompress


def fetch(
    server: Server, path: str, accept_encoding: str | None, method: str = "GET", **headers: str
) -> tuple[httpx.Response, bytes]:
    """The answer and its body exactly as sent; `accept_encoding` None sends no `Accept-Encoding` at all."""
    with server.client() as client:
        del client.headers["accept-encoding"]
        if accept_encoding is not None:
            headers["Accept-Encoding"] = accept_encoding
        with client.stream(method, path, headers=headers) as response:
            raw = b"".join(response.iter_raw())
    return response, raw


def vary(response: httpx.Response) -> list[str]:
    return [part.strip().lower() for value in response.headers.get_list("vary") for part in value.split(",")]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Demo databases of this module's own, since its tests write."""
    folder = tmp_path_factory.mktemp("compression-data")
    build_demo(folder, scale=TEST_SCALE)
    return folder


@pytest.fixture(scope="module")
def compressing(tmp_path_factory: pytest.TempPathFactory, data: Path) -> Iterator[Server]:
    """A server with the default `Compression` settings."""
    with start_server(tmp_path_factory.mktemp("compressing"), settings_document(data)) as server:
        yield server


@pytest.fixture(scope="module")
def uncompressing(tmp_path_factory: pytest.TempPathFactory, data: Path) -> Iterator[Server]:
    """A server with `Compression.Enabled` false."""
    document = settings_document(data, Compression={"Enabled": False})
    with start_server(tmp_path_factory.mktemp("uncompressing"), document) as server:
        yield server


@pytest.fixture(scope="module")
def identity_page(compressing: Server) -> bytes:
    response, raw = fetch(compressing, PAGE, "identity")
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert int(response.headers["content-length"]) == len(raw) > 1_000_000
    return raw


@pytest.mark.parametrize("coding", CODINGS)
def test_a_page_decodes_to_exactly_the_uncompressed_json(compressing: Server, identity_page: bytes, coding: str):
    response, raw = fetch(compressing, PAGE, coding)
    assert response.status_code == 200
    assert response.headers["content-encoding"] == coding
    assert "accept-encoding" in vary(response)
    assert int(response.headers["content-length"]) == len(raw)
    assert len(raw) * 10 < len(identity_page)
    assert decode(coding, raw) == identity_page


def test_identity_or_no_header_gets_no_coding_but_says_it_varies(compressing: Server, identity_page: bytes):
    for accept_encoding in ("identity", None, ""):
        response, raw = fetch(compressing, PAGE, accept_encoding)
        assert "content-encoding" not in response.headers, accept_encoding
        assert raw == identity_page
        assert "accept-encoding" in vary(response)


@pytest.mark.parametrize(
    ("accept_encoding", "chosen"),
    [
        ("gzip;q=0, br", "br"),
        ("br;q=0, gzip;q=0.5", "gzip"),
        ("zstd;q=0, br;q=0, gzip", "gzip"),
        ("gzip;q=0", None),
        ("gzip;q=0.001, br;q=0", "gzip"),
        ("*", "zstd"),
        ("*;q=0, br", "br"),
        ("zstd;q=0, *", "br"),
        ("deflate, compress", None),
        ("GZIP", "gzip"),
    ],
)
def test_q_values_and_unknown_codings(compressing: Server, accept_encoding: str, chosen: str | None):
    response, raw = fetch(compressing, PAGE, accept_encoding)
    assert response.status_code == 200
    assert response.headers.get("content-encoding") == chosen
    assert decode(chosen, raw) if chosen else raw


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/9999/orders?$top=1&$select=OrderNo", 200),
        ("/api/9999/orders?$select=Foo", 400),
        ("/api/9999/nosuchtable", 404),
        ("/api/9999/orders/999999999", 404),
    ],
)
def test_small_answers_and_errors_go_out_uncompressed(compressing: Server, path: str, status: int):
    response, raw = fetch(compressing, path, "gzip, br, zstd")
    assert response.status_code == status
    assert "content-encoding" not in response.headers
    assert int(response.headers["content-length"]) == len(raw) < 1024
    assert raw.startswith(b"{")


def test_an_authentication_error_goes_out_uncompressed(compressing: Server):
    with compressing.client(auth=("demo", "wrong")) as client:
        response = client.get(PAGE, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 401
    assert "content-encoding" not in response.headers


def test_compression_can_be_switched_off(uncompressing: Server, identity_page: bytes):
    response, raw = fetch(uncompressing, PAGE, "zstd, br, gzip")
    assert "content-encoding" not in response.headers
    assert "accept-encoding" not in vary(response)
    assert raw == identity_page
    row, _ = fetch(uncompressing, ROW.format(3), "gzip")
    assert row.headers["etag"].startswith('"')


@pytest.mark.parametrize("coding", CODINGS)
def test_a_compressed_rows_etag_is_the_weak_form_of_the_identity_one(compressing: Server, coding: str):
    plain, plain_body = fetch(compressing, ROW.format(11), "identity")
    packed, packed_body = fetch(compressing, ROW.format(11), coding)
    assert packed.headers["content-encoding"] == coding
    assert decode(coding, packed_body) == plain_body
    assert plain.headers["etag"].startswith('"')
    assert packed.headers["etag"] == "W/" + plain.headers["etag"]


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_if_match_takes_the_etag_of_a_compressed_get(compressing: Server, method: str):
    order = 21 if method == "PATCH" else 22
    read, _ = fetch(compressing, ROW.format(order), "br")
    tag = read.headers["etag"]
    assert tag.startswith('W/"')
    with compressing.client() as client:
        headers = {"If-Match": tag, "Accept-Encoding": "gzip"}
        written = client.request(method, ROW.format(order), json={"Name": f"{method} after br"}, headers=headers)
        assert written.status_code == 200, written.text
        assert written.headers["content-encoding"] == "gzip"
        assert written.json()["value"]["Name"] == f"{method} after br"
        stale = client.request(method, ROW.format(order), json={"Name": "lost update"}, headers=headers)
        assert stale.status_code == 412, stale.text
        fresh = written.headers["etag"]
        again = client.request(method, ROW.format(order), json={"Name": "second"}, headers={"If-Match": fresh})
        assert again.status_code == 200, again.text


def test_if_match_on_delete_takes_the_etag_of_a_compressed_get(compressing: Server):
    read, _ = fetch(compressing, ROW.format(31), "zstd")
    with compressing.client() as client:
        changed = client.patch(ROW.format(31), json={"Name": "changed under the reader"})
        assert changed.status_code == 200
        refused = client.delete(ROW.format(31), headers={"If-Match": read.headers["etag"]})
        assert refused.status_code == 412, refused.text
        current, _ = fetch(compressing, ROW.format(31), "gzip")
        deleted = client.delete(ROW.format(31), headers={"If-Match": current.headers["etag"]})
        assert deleted.status_code == 204, deleted.text
        assert client.get(ROW.format(31)).status_code == 404


@pytest.mark.parametrize("coding", [*CODINGS, "identity"])
@pytest.mark.parametrize("path", [ROW.format(41), PAGE])
def test_head_answers_with_the_headers_of_get(compressing: Server, coding: str, path: str):
    got, _ = fetch(compressing, path, coding)
    head, body = fetch(compressing, path, coding, method="HEAD")
    assert head.status_code == 200
    assert body == b""
    for name in ("content-encoding", "content-length", "etag", "vary", "content-type"):
        assert head.headers.get(name) == got.headers.get(name), name


@pytest.mark.parametrize("coding", CODINGS)
def test_not_modified_keeps_the_form_of_the_tag_the_client_holds(compressing: Server, coding: str):
    packed, _ = fetch(compressing, ROW.format(51), coding)
    weak = packed.headers["etag"]
    assert weak.startswith('W/"')
    again, body = fetch(compressing, ROW.format(51), coding, **{"If-None-Match": weak})
    assert again.status_code == 304
    assert body == b""
    assert again.headers["etag"] == weak
    assert "content-encoding" not in again.headers
    strong = weak.removeprefix("W/")
    plain, body = fetch(compressing, ROW.format(51), coding, **{"If-None-Match": strong})
    assert plain.status_code == 304
    assert plain.headers["etag"] == strong


def test_an_answer_the_application_encoded_itself_keeps_its_tag(compressing: Server):
    """The OpenAPI document is gzipped by its endpoint, whose `If-None-Match` takes its strong tag."""
    document, raw = fetch(compressing, SPEC_PATH, "gzip")
    assert document.headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(raw))["openapi"]
    tag = document.headers["etag"]
    assert tag.startswith('"')
    again, _ = fetch(compressing, SPEC_PATH, "gzip", **{"If-None-Match": tag})
    assert again.status_code == 304


@pytest.mark.parametrize("coding", ["identity", "gzip"])
def test_vary_names_accept_encoding_once(compressing: Server, coding: str):
    """Endpoints that name it themselves (the OpenAPI document, $metadata) do not get it twice."""
    for path in (SPEC_PATH, "/odata/9999/$metadata", PAGE):
        response, _ = fetch(compressing, path, coding)
        assert response.status_code == 200
        assert vary(response).count("accept-encoding") == 1, (path, response.headers.get_list("vary"))


def test_the_export_media_types_are_streamed_types():
    """The exports' own types, so that a change there cannot leave exports uncompressed unnoticed."""
    for media_type in (export.NDJSON, export.CSV):
        assert media_type.split(";")[0].strip() in STREAMED_TYPES


@pytest.mark.parametrize("coding", CODINGS)
def test_a_whole_table_export_decodes_to_the_uncompressed_one(compressing: Server, coding: str):
    path = "/api/9999/orders?$orderBy=OrderNo"
    plain, plain_body = fetch(compressing, path, "identity", Accept="application/x-ndjson")
    packed, raw = fetch(compressing, path, coding, Accept="application/x-ndjson")
    assert plain.status_code == packed.status_code == 200
    assert packed.headers["content-encoding"] == coding
    assert "content-length" not in packed.headers
    assert decode(coding, raw) == plain_body
    with compressing.client() as client:
        count = client.get("/api/9999/orders?$count=true&$top=0").json()["@odata.count"]
    assert plain_body.count(b"\n") == count > 1000


# A streamed answer, through redhorn's own middleware stack on a real server over TLS.

BATCHES = 5
RELEASE_WAIT_SECONDS = 10.0


def batch(number: int) -> bytes:
    return b"".join(b'{"Row": %d, "Text": "%s"}\n' % (number * 100 + row, b"x" * (row % 50)) for row in range(100))


class _Nobody(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        return None


class StreamingApp:
    """One route streaming `BATCHES` batches; after the first it waits until the client has decoded it."""

    def __init__(self, settings: Settings, media_type: str) -> None:
        self.first_decoded = threading.Event()
        self.released_in_time = False
        self.media_type = media_type
        route = Route("/stream", self.stream, methods=["GET"])
        self.app = Starlette(routes=[route], middleware=middleware_stack(settings, _Nobody()))

    async def stream(self, request: Request) -> Response:
        return StreamingResponse(self.batches(), media_type=self.media_type)

    async def batches(self) -> AsyncIterator[bytes]:
        yield batch(0)
        deadline = time.monotonic() + RELEASE_WAIT_SECONDS
        while not self.first_decoded.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        self.released_in_time = self.first_decoded.is_set()
        for number in range(1, BATCHES):
            yield batch(number)


@contextlib.contextmanager
def serving(app: Any, folder: Path) -> Iterator[tuple[str, Path]]:
    """`app` served by uvicorn over TLS in a thread of this process: its base URL and certificate."""
    certificate, key = folder / "cert.pem", folder / "key.pem"
    make_development_certificate(certificate, key)
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        ssl_certfile=str(certificate),
        ssl_keyfile=str(key),
        lifespan="off",
        ws="none",
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        yield f"https://127.0.0.1:{port}", certificate
    finally:
        server.should_exit = True
        thread.join(10)


def stream_settings(**compression: Any) -> Settings:
    """Settings for an app of redhorn's stack that reads no database, with these `Compression` keys."""
    return parse_settings(json.dumps(settings_document(Path("unused"), Compression=compression)))


@pytest.mark.parametrize("media_type", [export.NDJSON, export.CSV])
@pytest.mark.parametrize("coding", CODINGS)
def test_a_stream_is_compressed_batch_by_batch(tmp_path: Path, coding: str, media_type: str):
    streaming = StreamingApp(stream_settings(), media_type)
    with serving(streaming.app, tmp_path) as (base_url, certificate):
        with httpx.Client(
            base_url=base_url, verify=ssl.create_default_context(cafile=str(certificate)), timeout=30
        ) as client:
            with client.stream("GET", "/stream", headers={"Accept-Encoding": coding}) as response:
                assert response.headers["content-encoding"] == coding
                assert "content-length" not in response.headers
                assert "accept-encoding" in vary(response)
                decoder, decoded, chunks = incremental_decoder(coding), b"", 0
                for chunk in response.iter_raw():
                    chunks += 1
                    decoded += decoder(chunk)
                    if decoded == batch(0):
                        streaming.first_decoded.set()
    assert streaming.released_in_time, "the first batch did not reach the client before the stream went on"
    assert chunks >= 2
    assert decoded == b"".join(batch(number) for number in range(BATCHES))


def test_a_stream_goes_out_as_written_when_compression_is_off(tmp_path: Path):
    streaming = StreamingApp(stream_settings(Enabled=False), export.NDJSON)
    streaming.first_decoded.set()
    with serving(streaming.app, tmp_path) as (base_url, certificate):
        with httpx.Client(
            base_url=base_url, verify=ssl.create_default_context(cafile=str(certificate)), timeout=30
        ) as client:
            with client.stream("GET", "/stream", headers={"Accept-Encoding": "gzip, br, zstd"}) as response:
                raw = b"".join(response.iter_raw())
    assert "content-encoding" not in response.headers
    assert raw == b"".join(batch(number) for number in range(BATCHES))


# The size threshold, exactly at its edge, through the same stack in process.


async def answer_of(settings: Settings, body: bytes, accept_encoding: str) -> tuple[dict[str, str], bytes]:
    """The headers and body an app of redhorn's stack sends for `body`, called as a server would."""

    async def endpoint(request: Request) -> Response:
        return Response(body, media_type="application/json", headers={"ETag": '"tag"'})

    app = Starlette(routes=[Route("/", endpoint)], middleware=middleware_stack(settings, _Nobody()))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        async with client.stream("GET", "/", headers={"Accept-Encoding": accept_encoding}) as response:
            raw = b"".join([chunk async for chunk in response.aiter_raw()])
    return dict(response.headers), raw


@pytest.mark.parametrize("minimum", [100, 1024, 5000])
async def test_minimum_bytes_is_the_smallest_body_compressed(minimum: int):
    settings = stream_settings(MinimumBytes=minimum)
    for size in (minimum - 1, minimum, minimum + 1):
        body = b'"' + b"a" * (size - 2) + b'"'
        headers, raw = await answer_of(settings, body, "gzip")
        if size < minimum:
            assert "content-encoding" not in headers, size
            assert raw == body
            assert headers["etag"] == '"tag"'
        else:
            assert headers["content-encoding"] == "gzip", size
            assert gzip.decompress(raw) == body
            assert headers["etag"] == 'W/"tag"'


@pytest.mark.parametrize(("level", "other"), [("GzipLevel", 9), ("BrotliQuality", 11), ("ZstdLevel", 19)])
async def test_the_levels_of_the_settings_are_used(level: str, other: int):
    body = b"".join(batch(number) for number in range(20))
    coding = {"GzipLevel": "gzip", "BrotliQuality": "br", "ZstdLevel": "zstd"}[level]
    _, fast = await answer_of(stream_settings(), body, coding)
    _, small = await answer_of(stream_settings(**{level: other}), body, coding)
    assert decode(coding, fast) == decode(coding, small) == body
    assert len(small) < len(fast)
