"""The VBS emulator refuses what a real bridge would: other credentials, a body that is not the
write contract, and a company that does not exist, each in the contract's own terms."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import msgspec
import pytest

from redhorn.tools.vbs_emulator import create_emulator
from redhorn.writers.model import AddRows, Assign, RowWrite, WriteContext, WriteRequest

USER, PASSWORD = "vbsint", "integration-secret"


@pytest.fixture(scope="module")
async def emulator(demo_folder: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_emulator(demo_folder, USER, PASSWORD)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as client:
            yield client


def write_for(company: int) -> bytes:
    request = WriteRequest(WriteContext(company, "system"), (AddRows("Actor", (RowWrite((Assign("Nm", "x"),)),)),))
    return msgspec.json.encode(request)


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Bearer " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(), id="not-basic"),
        pytest.param("Basic not*base64", id="not-base64"),
        pytest.param("Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(), id="not-utf8"),
        pytest.param("Basic " + base64.b64encode(f"{USER}:wrong".encode()).decode(), id="wrong-password"),
        pytest.param("Basic " + base64.b64encode(f"other:{PASSWORD}".encode()).decode(), id="wrong-user"),
    ],
)
async def test_anyone_but_the_integration_user_is_refused(emulator: httpx.AsyncClient, authorization: str):
    headers = {"Authorization": authorization}
    response = await emulator.post("/GenericService/redhorn", content=write_for(9999), headers=headers)
    assert response.status_code == 401 and response.json() == {"error": "unauthorised"}


async def test_a_body_that_is_not_a_write_request_is_a_bad_request(emulator: httpx.AsyncClient):
    body = b'{"operations": "all of them"}'
    response = await emulator.post("/GenericService/redhorn", content=body, auth=(USER, PASSWORD))
    assert response.status_code == 400 and "error" in response.json()


async def test_a_company_that_does_not_exist_is_answered_as_vbs_would_with_a_message(emulator: httpx.AsyncClient):
    response = await emulator.post("/GenericService/redhorn", content=write_for(4242), auth=(USER, PASSWORD))
    assert response.status_code == 200
    (message,) = response.json()["messages"]
    assert message["severity"] == "error" and message["code"] == "CompanyNotFound"
    assert message["text"] == "Company 4242 does not exist"
