"""Finding 11: what a client without credentials could learn (company schemas, databases, licensee)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from redhorn.settings import parse_settings
from tests.conftest import running_client, settings_document
from tests.test_error_shape import assert_error_shape

SPEC = "/swagger/v1/swagger.json"
ONLY_9999 = ("only9999", "only-9999-password")


@pytest.fixture(scope="module")
async def app_client(demo_folder: Path) -> AsyncIterator[httpx.AsyncClient]:
    document = settings_document(demo_folder, "sqlite")
    document["ApiUsers"].append(
        {"Username": ONLY_9999[0], "Password": ONLY_9999[1], "AccessibleCompanies": [{"CompanyNo": 9999}]}
    )
    async with running_client(parse_settings(json.dumps(document)), demo_folder, auth=None) as client:
        yield client


@pytest.mark.parametrize("company", ["9999", "1", "4242", "77"])
async def test_a_company_document_needs_credentials_and_tells_nothing_without_them(
    app_client: httpx.AsyncClient, company: str
):
    response = await app_client.get(f"{SPEC}?company={company}")
    assert_error_shape(response, 401, "AuthenticationRequired")
    assert "www-authenticate" in response.headers


async def test_a_company_document_follows_the_access_rules_of_its_data(app_client: httpx.AsyncClient):
    assert (await app_client.get(f"{SPEC}?company=9999", auth=ONLY_9999)).status_code == 200
    assert_error_shape(await app_client.get(f"{SPEC}?company=1", auth=ONLY_9999), 403, "CompanyAccessDenied")
    assert_error_shape(await app_client.get(f"{SPEC}?company=4242", auth=ONLY_9999), 403, "CompanyAccessDenied")
    wrong = await app_client.get(f"{SPEC}?company=9999", auth=(ONLY_9999[0], "wrong"))
    assert_error_shape(wrong, 401, "InvalidCredentials")


async def test_the_public_document_shows_no_extension_of_any_company(app_client: httpx.AsyncClient):
    public = await app_client.get(SPEC)
    assert public.status_code == 200
    text = public.text
    assert "acme_delroute" not in text.lower() and "ACME_Segment" not in text, "Data Model Extensions stay private"
    assert "/api/{companyNo}/orders" in public.json()["paths"]
    own = await app_client.get(SPEC, auth=ONLY_9999)
    assert "acme_delroute" in own.text.lower() and "ACME_Segment" in own.text, "the user's own company, in full"


async def test_public_health_says_up_or_down_and_nothing_else(app_client: httpx.AsyncClient):
    public = await app_client.get("/health")
    assert public.status_code == 200 and public.json() == {"status": "ok"}
    detailed = (await app_client.get("/health", auth=ONLY_9999)).json()
    assert set(detailed) == {"status", "databases", "licence"} and "F9999" in detailed["databases"]
