"""Finding 2: connections whose headers never finish were never timed out, and their number had no cap."""

from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path

import pytest

from tests.conftest import DEMO_USER, Server, settings_document, start_server

pytestmark = pytest.mark.e2e
PARTIAL_REQUEST = b"GET /api/9999/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


def resident_kib(server: Server) -> int:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def open_slow(server: Server, context: ssl.SSLContext, count: int) -> list[asyncio.StreamWriter]:
    """`count` TLS connections, each having sent part of a request's headers and nothing more."""
    port = int(server.base_url.rsplit(":", 1)[1])
    gate = asyncio.Semaphore(100)

    async def one() -> asyncio.StreamWriter:
        async with gate:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
            writer.write(PARTIAL_REQUEST)
            await writer.drain()
            return writer

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def close_all(writers: list[asyncio.StreamWriter]) -> None:
    for writer in writers:
        writer.close()
    await asyncio.gather(*(writer.wait_closed() for writer in writers), return_exceptions=True)


async def page_seconds(server: Server, context: ssl.SSLContext) -> float:
    """How long a normal client waits for a page of orders (a new connection, full request)."""
    import httpx

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=server.base_url, verify=context, auth=DEMO_USER, timeout=30) as client:
        response = await client.get("/api/9999/orders?$top=20")
    assert response.status_code == 200, response.text
    return time.perf_counter() - started


@pytest.mark.timeout(240)
async def test_two_thousand_slow_connections_leave_room_for_a_normal_client(tmp_path: Path, demo_folder: Path):
    document = settings_document(
        demo_folder, "sqlite", Server={"RequestHeaderTimeoutSeconds": 120, "MaxConnections": 3000}
    )
    with start_server(tmp_path, document, "--no-access-log") as server:
        context = server.ssl_context()
        await page_seconds(server, context)  # warm: metadata read, first page prepared
        before = resident_kib(server)
        slow = await open_slow(server, context, 2000)
        try:
            assert await page_seconds(server, context) < 1
            held = resident_kib(server)
        finally:
            await close_all(slow)
        deadline = time.monotonic() + 30
        while resident_kib(server) > before * 1.2 and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        after = resident_kib(server)
    assert after <= before * 1.2, f"RSS {before} KiB before, {held} KiB with 2,000 slow clients, {after} KiB after"


async def trickle(server: Server, head: bytes, byte: bytes) -> tuple[bytes, float]:
    """Send `head`, then `byte` now and then (which must not keep a connection open): what the
    server answered before it closed the connection, and how long that took."""
    port = int(server.base_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=server.ssl_context())
    started = time.monotonic()
    writer.write(head)
    await writer.drain()
    for _ in range(3):
        await asyncio.sleep(0.3)
        writer.write(byte)
        await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    return answer, time.monotonic() - started


async def test_a_connection_whose_headers_do_not_finish_in_time_is_closed(tmp_path: Path, demo_folder: Path):
    document = settings_document(demo_folder, "sqlite", Server={"RequestHeaderTimeoutSeconds": 1})
    with start_server(tmp_path, document) as server:
        context = server.ssl_context()
        answer, waited = await trickle(server, PARTIAL_REQUEST, b"x")
        assert answer == b"" and 0.9 < waited < 5, (answer, waited)
        assert await page_seconds(server, context) < 5, "normal clients are served meanwhile"


async def test_a_connection_past_the_cap_is_refused_with_a_json_503(tmp_path: Path, demo_folder: Path):
    document = settings_document(
        demo_folder, "sqlite", Server={"MaxConnections": 20, "RequestHeaderTimeoutSeconds": 60}
    )
    with start_server(tmp_path, document) as server:
        context = server.ssl_context()
        slow = await open_slow(server, context, 20)
        try:
            port = int(server.base_url.rsplit(":", 1)[1])
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
            writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(), timeout=10)
            writer.close()
        finally:
            await close_all(slow)
        assert answer.startswith(b"HTTP/1.1 503 ") and b'"code":"ServerBusy"' in answer
        assert await page_seconds(server, context) < 5, "room again once the slow ones left"


async def test_a_body_that_trickles_in_is_dropped_after_its_deadline(tmp_path: Path, demo_folder: Path):
    """A body sent a byte every few seconds held its connection for ever, on the token endpoint too."""
    document = settings_document(demo_folder, "sqlite", Server={"RequestBodyTimeoutSeconds": 1})
    with start_server(tmp_path, document) as server:
        head = (
            b"POST /api/oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\ngrant_type="
        )
        answer, waited = await trickle(server, head, b"p")
        assert b" 200 " not in answer and 0.9 < waited < 5, (answer[:100], waited)
        assert "Traceback" not in server.log()


async def test_a_token_request_announcing_a_huge_body_is_refused_at_once(tmp_path: Path, demo_folder: Path):
    with start_server(tmp_path, settings_document(demo_folder, "sqlite")) as server:
        context = server.ssl_context()
        port = int(server.base_url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        writer.write(
            b"POST /api/oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 99999999999\r\n\r\ng"
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        writer.close()
        assert head.startswith(b"HTTP/1.1 400 "), head
