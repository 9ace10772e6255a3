"""The VBS transport against a bridge simulated in process: every way the round trip can fail is
named for the operator (never with the address's secrets) and answered as the client can act on it."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from redhorn.errors import VbsFailed, WriteOutcomeUnknown, WriterUnavailable
from redhorn.settings import Settings, parse_settings
from redhorn.writers.model import AddRows, Assign, DeleteRow, RowWrite, UpdateRow, WriteContext, WriteRequest
from redhorn.writers.vbs import VbsTransport, address_for_log
from tests.conftest import settings_document

SECRET = "bridge-secret-123"
ADDRESS = f"http://vbsint:{SECRET}@bridge.test:8080/vbs/write?key={SECRET}"
CONTEXT = WriteContext(9999, "demo")
ADD = WriteRequest(CONTEXT, (AddRows("Actor", (RowWrite((Assign("Nm", "x"),)),)),), projection=("ActNo", "Nm"))


def settings(address: str = ADDRESS) -> Settings:
    document = settings_document(Path("/nowhere"))
    document["VismaConnection"] |= {
        "VbsEndpointAddress": address,
        "VbsIntegrationUser": "vbsint",
        "VbsIntegrationUserPassword": SECRET,
    }
    document["Writes"] = {"VbsConnectTimeoutSeconds": 1.5, "VbsTimeoutSeconds": 4}
    return parse_settings(json.dumps(document))


async def send(handler: Callable[[httpx.Request], httpx.Response], request: WriteRequest = ADD):
    transport = VbsTransport(settings(), transport=httpx.MockTransport(handler))
    try:
        return await transport.execute("F9999", request)
    finally:
        await transport.close()


def failing(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


def connect_error(cause: BaseException | None) -> httpx.ConnectError:
    error = httpx.ConnectError("All connection attempts failed")
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("exc", "error", "said"),
    [
        pytest.param(httpx.ConnectTimeout("slow"), WriterUnavailable, "no connection within 1.5 s", id="connect-slow"),
        pytest.param(httpx.ReadTimeout("slow"), WriteOutcomeUnknown, "no answer within 4 s", id="read-slow"),
        pytest.param(
            connect_error(socket.gaierror(-2, "Name or service not known")),
            WriterUnavailable,
            "host name not found",
            id="no-such-host",
        ),
        pytest.param(
            connect_error(OSError(113, "No route to host")),
            WriterUnavailable,
            "cannot connect (No route to host)",
            id="no-route",
        ),
        pytest.param(
            connect_error(None), WriterUnavailable, "cannot connect (All connection attempts failed)", id="bare"
        ),
        pytest.param(
            httpx.RemoteProtocolError("peer closed connection"),
            WriteOutcomeUnknown,
            "the connection failed (RemoteProtocolError)",
            id="broken-mid-write",
        ),
    ],
)
async def test_a_failed_round_trip_is_named_in_the_log_and_answered_503(
    exc: Exception, error: type[Exception], said: str, caplog: pytest.LogCaptureFixture
):
    with caplog.at_level(logging.WARNING, logger="redhorn"), pytest.raises(error) as raised:
        await send(failing(exc))
    assert type(raised.value) is error
    assert f"at http://bridge.test:8080/vbs/write is unavailable ({said})" in caplog.text
    assert SECRET not in caplog.text and "vbsint" not in caplog.text


async def test_a_write_that_broke_on_its_way_may_have_happened():
    with pytest.raises(WriteOutcomeUnknown, match="broke during the write; it may have been applied"):
        await send(failing(httpx.RemoteProtocolError("peer closed connection")))


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_are_a_bad_gateway_that_shows_no_secret(status: int):
    with pytest.raises(VbsFailed, match="refused the integration user's credentials") as raised:
        await send(lambda request: httpx.Response(status))
    assert SECRET not in raised.value.message


async def test_the_bridge_is_sent_the_request_with_the_integration_user():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"rows": [{"ActNo": 1, "Nm": "x"}], "messages": []})

    result = await send(handler)
    assert result.rows == ({"ActNo": 1, "Nm": "x"},)
    assert seen[0].headers["authorization"].startswith("Basic ")
    assert json.loads(seen[0].content)["operations"][0]["type"] == "add"


async def test_a_result_without_the_projected_columns_is_refused():
    answer = {"rows": [{"ActNo": 1}], "messages": []}
    with pytest.raises(VbsFailed, match="did not read back Nm"):
        await send(lambda request: httpx.Response(200, json=answer))


async def test_deletes_read_back_no_row_and_updates_one():
    key = (Assign("ActNo", 1),)
    request = WriteRequest(CONTEXT, (DeleteRow("Actor", key), UpdateRow("Actor", key, RowWrite(()))))
    result = await send(lambda r: httpx.Response(200, json={"rows": [{"ActNo": 1}]}), request)
    assert len(result.rows) == 1


async def test_a_transport_to_vbs_keeps_no_receipts():
    transport = VbsTransport(settings())
    try:
        assert transport.records_receipts is False
        assert await transport.find_receipt("F9999", "receipt") is None
    finally:
        await transport.close()


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        (ADDRESS, "http://bridge.test:8080/vbs/write"),
        ("https://bridge.test/vbs", "https://bridge.test:443/vbs"),
        ("http://[::1]/vbs", "http://[::1]:80/vbs"),
        ("http://[::1", "VismaConnection.VbsEndpointAddress (not a URL)"),
    ],
)
def test_the_address_is_logged_without_credentials_or_query(address: str, shown: str):
    assert address_for_log(address) == shown
