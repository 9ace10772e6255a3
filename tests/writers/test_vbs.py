"""The VBS transport's failures, each mapped to what a client can act on; and the production shape:
reads through ODBC, writes through the bridge."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from redhorn.settings import parse_settings
from redhorn.tools.demo.build import build_demo
from tests.conftest import (
    TEST_SCALE,
    deep_merge,
    free_port,
    require_odbc_driver,
    running_client,
    settings_document,
)
from tests.processes import stop
from tests.writers.conftest import VBS_USER, start_emulator, write_document


class _Bridge(http.server.BaseHTTPRequestHandler):
    """A misbehaving bridge: what it answers depends on the path it is sent to."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/slow":
            time.sleep(2)
        answers: dict[str, tuple[int, bytes]] = {
            "/garbage": (200, b"<html>not a result</html>"),
            "/refuses": (
                200,
                json.dumps({"messages": [{"severity": "error", "text": "Period 2026-11 is closed"}]}).encode(),
            ),
            "/conflict": (
                200,
                json.dumps(
                    {"messages": [{"severity": "error", "text": "Exists", "code": "DuplicateKey", "target": "x"}]}
                ).encode(),
            ),
            "/down": (503, b"maintenance"),
            "/teapot": (418, b""),
            "/slow": (200, b"{}"),
            "/no-rows": (200, b'{"rows": [], "messages": []}'),
        }
        status, body = answers.get(self.path, (404, b""))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture(scope="module")
def bridge() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Bridge)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("vbs")
    build_demo(folder, scale=TEST_SCALE)
    return folder


@pytest.mark.parametrize(
    ("path", "status", "code", "text"),
    [
        ("/garbage", 502, "VbsFailed", "not a write result"),
        ("/refuses", 502, "VbsFailed", "Period 2026-11 is closed"),
        ("/conflict", 409, "DuplicateKey", "Exists"),
        ("/down", 503, "WriterUnavailable", "unavailable"),
        ("/teapot", 502, "VbsFailed", "418"),
        ("/no-rows", 502, "VbsFailed", "1 row"),
        ("/slow", 503, "WriterUnavailable", "in time"),
    ],
)
async def test_what_the_bridge_answers_becomes_a_clear_error(folder, bridge, path, status, code, text):
    document = write_document(folder, bridge + path, Writes={"VbsTimeoutSeconds": 0.5})
    async with running_client(parse_settings(json.dumps(document)), folder) as client:
        response = await client.post("/api/9999/associates", json={"Name": "x"})
    assert (response.status_code, response.json()["error"]["code"]) == (status, code), response.text
    assert text in response.json()["error"]["message"]
    if status == 503:
        assert response.headers["retry-after"]


async def test_an_unreachable_bridge_is_503_with_retry_after(folder):
    document = write_document(folder, f"http://127.0.0.1:{free_port()}/")
    async with running_client(parse_settings(json.dumps(document)), folder) as client:
        response = await client.post("/api/9999/associates", json={"Name": "x"})
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    error = response.json()["error"]
    assert error == {"code": "WriterUnavailable", "message": "Visma Business Services cannot be reached"}


def test_wrong_integration_credentials_are_502_and_never_shown(folder):
    process, address, _ = start_emulator(folder, write_document(folder))
    try:
        document = deep_merge(
            write_document(folder, address), {"VismaConnection": {"VbsIntegrationUserPassword": "wrong-secret"}}
        )
        from tests.conftest import start_server

        with start_server(folder / "server-wrong", document) as server, server.client() as client:
            response = client.post("/api/9999/associates", json={"Name": "x"})
            assert response.status_code == 502 and response.json()["error"]["code"] == "VbsFailed"
            assert "wrong-secret" not in response.text and VBS_USER[1] not in response.text
            assert "wrong-secret" not in server.log()
    finally:
        stop(process)


async def test_reads_through_odbc_and_writes_through_the_bridge(folder):
    """The production shape: SQL Server read with aioodbc, writes through VBS (here the emulator)."""
    require_odbc_driver()
    process, address, _ = start_emulator(folder, write_document(folder))
    try:
        document = write_document(folder, address)
        document["VismaConnection"]["VismaDbConnectionString"] = settings_document(folder, "odbc")["VismaConnection"][
            "VismaDbConnectionString"
        ]
        async with running_client(parse_settings(json.dumps(document)), folder) as client:
            created = await client.post("/api/9999/associates", json={"Name": "Through ODBC"})
            assert created.status_code == 201, created.text
            read = await client.get(created.headers["location"])
            assert read.json()["Name"] == "Through ODBC" and read.headers["etag"] == created.headers["etag"]
    finally:
        stop(process)


async def test_sql_server_without_a_bridge_refuses_writes(folder):
    require_odbc_driver()
    document = settings_document(folder, "odbc")
    async with running_client(parse_settings(json.dumps(document)), folder) as client:
        response = await client.post("/api/9999/associates", json={"Name": "x"})
        assert response.status_code == 501 and response.json()["error"]["code"] == "WritesNotConfigured"
        assert (await client.get("/api/9999/associates/1")).status_code == 200
