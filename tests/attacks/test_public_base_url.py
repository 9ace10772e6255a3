"""Finding 19: links were built from the client's `Host`; behind a proxy they need the public address."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from redhorn.errors import SettingsError
from redhorn.settings import parse_settings
from tests.conftest import running_client, settings_document

PUBLIC = "https://erp.example.com/redhorn"


@pytest.mark.parametrize("prefix", ["", "/redhorn"])
async def test_links_and_redirects_name_the_public_base_url_whatever_host_the_client_sends(
    demo_folder: Path, prefix: str
):
    public = "https://erp.example.com" + prefix
    settings = parse_settings(json.dumps(settings_document(demo_folder, "sqlite", Server={"PublicBaseUrl": public})))
    async with running_client(settings, demo_folder) as client:
        hostile = {"Host": "attacker.example", "X-Forwarded-Host": "attacker.example"}
        paged = hostile | {"Prefer": "odata.maxpagesize=2"}
        page = await client.get("/api/9999/orders?$select=OrderNo", headers=paged)
        assert page.status_code == 200, page.text
        next_link = page.json()["@odata.nextLink"]
        assert next_link.startswith(f"{public}/api/9999/orders?"), next_link
        following = await client.get(next_link.removeprefix(public), headers=paged)
        assert following.status_code == 200 and following.json()["value"]
        by_key = await client.get("/api/9999/orderlines/1/1", headers=hostile)
        assert by_key.status_code == 200, "key segments are read after the prefix"
        redirect = await client.get("/api/9999/", headers=hostile, follow_redirects=False)
        assert redirect.status_code == 307 and redirect.headers["location"] == f"{public}/api/9999"


@pytest.mark.parametrize(
    "value", ["http://erp.example.com", "https://", "https://erp.example.com/?a=1", "erp.example.com"]
)
def test_a_public_base_url_that_is_not_an_https_address_stops_startup(value: str):
    document = {"VismaConnection": {"VismaDbConnectionString": "Engine=sqlite;Data Source=~/data"}}
    with pytest.raises(SettingsError, match="PublicBaseUrl"):
        parse_settings(json.dumps(document | {"Server": {"PublicBaseUrl": value}}))


async def test_swagger_and_its_document_name_the_public_path_prefix(demo_folder: Path):
    settings = parse_settings(json.dumps(settings_document(demo_folder, "sqlite", Server={"PublicBaseUrl": PUBLIC})))
    async with running_client(settings, demo_folder) as client:
        page = await client.get("/swagger", headers={"Host": "attacker.example"})
        assert page.status_code == 200
        assert '"url": "/redhorn/swagger/v1/swagger.json"' in page.text
        assert f'"oauth2RedirectUrl": "{PUBLIC}/swagger/static/oauth2-redirect.html"' in page.text
        assert 'src="/redhorn/swagger/static/swagger-ui-bundle.js"' in page.text
        assert (await client.get("/swagger/static/swagger-ui-bundle.js")).status_code == 200
        document = (await client.get("/swagger/v1/swagger.json")).json()
        assert document["servers"] == [{"url": "/redhorn"}]
        token_url = document["components"]["securitySchemes"]["oauth2"]["flows"]["password"]["tokenUrl"]
        assert token_url == "/redhorn/api/oauth/token"
