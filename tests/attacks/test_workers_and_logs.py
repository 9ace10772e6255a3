"""Findings 13 and 16: several workers without a configured key, and clients that leave mid-body."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import BASIC_DEMO, DEMO_USER, http_scope, settings_document, start_server

pytestmark = pytest.mark.e2e


def test_two_workers_without_a_signing_key_accept_each_others_tokens_and_next_links(tmp_path: Path, demo_folder: Path):
    """Finding 13: each worker made its own key, so Bearer and nextLinks failed on every other request."""
    document = settings_document(demo_folder, "sqlite", Tokens={"SigningKey": ""})
    with start_server(tmp_path, document, "--workers", "2") as server:
        deadline = time.monotonic() + 60
        while server.log().count("Application startup complete") < 2:  # both workers, not the first alone
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)
        with server.client(auth=None) as client:
            response = client.post(
                "/api/oauth/token",
                data={"grant_type": "password", "username": DEMO_USER[0], "password": DEMO_USER[1]},
            )
            assert response.status_code == 200, response.text
            bearer = {"Authorization": f"Bearer {response.json()['access_token']}"}
            statuses = [client.get("/api/9999/orders?$top=1", headers=bearer).status_code for _ in range(30)]
            assert statuses == [200] * 30
            link: str | None = "/api/9999/orders?$select=OrderNo"
            pages = 0
            while link and pages < 12:
                page = client.get(link, headers=bearer | {"Prefer": "odata.maxpagesize=5"})
                assert page.status_code == 200, page.text
                link, pages = page.json().get("@odata.nextLink"), pages + 1
            assert pages == 12
        log = server.log()
    assert log.count("workers share a key kept in") == 2, "redhorn's own lines appear from each worker"
    assert (tmp_path / "redhorn-signing.key").is_file()
    assert "test-signing-key" not in log


async def send_part_of_a_body(app: Any, path: str, content_type: bytes, basic: bool) -> list[MutableMapping[str, Any]]:
    headers = [(b"content-type", content_type), (b"content-length", b"1000")]
    if basic:
        headers.append((b"authorization", BASIC_DEMO))
    scope = http_scope("POST", path.encode(), b"", headers)
    messages = [{"type": "http.request", "body": b'{"Name": "hal', "more_body": True}, {"type": "http.disconnect"}]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> Any:
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


@pytest.mark.parametrize(
    ("path", "content_type", "basic"),
    [
        ("/api/9999/associates", b"application/json", True),
        ("/api/oauth/token", b"application/x-www-form-urlencoded", False),
    ],
    ids=["write", "token-endpoint"],
)
async def test_a_client_that_leaves_mid_body_is_one_log_line_not_two_tracebacks(
    writing_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, path: str, content_type: bytes, basic: bool
):
    """Finding 16: a body cut short logged two full tracebacks, on the unauthenticated token endpoint too."""
    transport = writing_client._transport
    assert isinstance(transport, httpx.ASGITransport)
    with caplog.at_level(logging.INFO):
        await send_part_of_a_body(transport.app, path, content_type, basic)
    assert not [record for record in caplog.records if record.exc_info], "no traceback"
    lines = [record.getMessage() for record in caplog.records if record.levelno >= logging.INFO]
    assert len(lines) == 1 and "before sending its whole body" in lines[0]
