"""The OpenAPI document and Swagger UI, in process: valid, complete, cached, local."""

from __future__ import annotations

import gzip
import json
import re
from typing import Any

import httpx
import pytest


async def fetch_document(client: httpx.AsyncClient, query: str = "") -> dict[str, Any]:
    """A company's document with the demo user's credentials; the public one when `query` is empty."""
    response = await client.get(f"/swagger/v1/swagger.json{query}", auth=None if not query else client.auth)
    assert response.status_code == 200, response.text
    return dict(response.json())


def parameters_of(document: dict[str, Any], operation: dict[str, Any]) -> list[dict[str, Any]]:
    """An operation's parameters, those it refers to in components included."""
    shared = document["components"].get("parameters", {})
    return [shared[p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p for p in operation["parameters"]]


# Validating the documents (the fixture's work, once a session) takes most of a minute, more when
# the machine is busy: the tests that wait for it may take longer than the suite's default limit.
@pytest.mark.timeout(360)
def test_both_documents_stay_valid_openapi_with_expand(validated_documents: dict[str, dict[str, Any]]):
    """Validated by the fixture; both carry `$expand` on orders, whose table has navigations."""
    for document in validated_documents.values():
        operation = document["paths"]["/api/{companyNo}/orders"]["get"]
        assert "$expand" in {parameter["name"] for parameter in parameters_of(document, operation)}


@pytest.mark.timeout(360)
async def test_the_document_is_valid_openapi_and_covers_every_resource(
    client: httpx.AsyncClient, validated_documents: dict[str, dict[str, Any]]
):
    document = await fetch_document(client, "?company=9999")
    assert document == validated_documents["company"], "the same document whichever engine reads the rows"
    resources = [entry["name"] for entry in (await client.get("/api/9999")).json()["value"]]
    for resource in resources:
        assert f"/api/{{companyNo}}/{resource}" in document["paths"], resource
        assert f"/api/{{companyNo}}/{resource}/$count" in document["paths"], resource
    assert "/api/{companyNo}/orderlines/{OrderNo}/{LineNo}" in document["paths"]
    assert "/api/vbsys/companies" in document["paths"] and "/api/catalog/modeltables" in document["paths"]
    list_orders = document["paths"]["/api/{companyNo}/orders"]["get"]
    names = {parameter["name"] for parameter in parameters_of(document, list_orders)}
    assert {"companyNo", "$filter", "$select", "$orderby", "$top", "$skip", "$count", "$skiptoken", "Prefer"} <= names
    assert set(list_orders["responses"]) >= {"200", "400", "401", "403", "404", "503"}


async def test_schemas_carry_types_keys_lengths_and_extensions(client: httpx.AsyncClient):
    schemas = (await fetch_document(client, "?company=9999"))["components"]["schemas"]
    order = schemas["Order"]
    assert order["x-key"] == ["OrderNo"]
    assert order["properties"]["Name"] == {
        "type": "string",
        "maxLength": 80,
        "description": "SQL column Nm",
        "x-visma-column-no": 2875,  # numbered by the whole model's dictionary
    }
    assert order["properties"]["OrderNo"]["x-visma-column-no"] == 2868
    assert order["properties"]["OrderDate"]["type"] == "integer"
    assert "yyyymmdd" in order["properties"]["OrderDate"]["description"]
    assert order["properties"]["ExchangeRate"]["type"] == "number"
    order_type = order["properties"]["OrderType"]
    assert order_type["x-visma-values"]["NormalOrder"] == 1 and "OrderType" in order_type["description"]
    associate = schemas["Associate"]["properties"]["ACME_Segment"]
    assert associate["type"] == ["string", "null"] and "extension" in associate["description"]
    page = schemas["OrderPage"]["properties"]
    assert set(page) == {"@odata.count", "value", "@odata.nextLink", "@odata.deltaLink"}
    assert schemas["ErrorBody"]["properties"]["error"]["$ref"].endswith("ErrorDetail")


async def test_security_schemes_and_the_password_flow(client: httpx.AsyncClient):
    document = await fetch_document(client)
    schemes = document["components"]["securitySchemes"]
    assert schemes["basic"] == {"type": "http", "scheme": "basic"}
    assert schemes["bearer"]["scheme"] == "bearer"
    assert schemes["oauth2"]["flows"]["password"]["tokenUrl"] == "/api/oauth/token"
    assert document["paths"]["/api/oauth/token"]["post"]["security"] == []


async def test_the_document_is_cached_with_an_etag_and_compressed(client: httpx.AsyncClient):
    first = await client.get("/swagger/v1/swagger.json?company=9999", headers={"Accept-Encoding": "gzip"})
    etag = first.headers["etag"]
    assert first.headers["content-encoding"] == "gzip"
    raw = await client.get("/swagger/v1/swagger.json?company=9999", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers and raw.headers["etag"] == etag
    assert gzip.decompress(gzip.compress(raw.content)) == raw.content and first.json() == raw.json()
    again = await client.get("/swagger/v1/swagger.json?company=9999", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""


async def test_each_company_has_its_own_document(client: httpx.AsyncClient):
    big = await fetch_document(client, "?company=9999")
    small = await fetch_document(client, "?company=1")
    assert "company 1;" in small["info"]["description"] and "company 9999;" in big["info"]["description"]
    for query, status in (("?company=4242", 404), ("?company=abc", 400), ("?company=", 400), ("?company=5", 403)):
        response = await client.get(f"/swagger/v1/swagger.json{query}")
        assert response.status_code == status and response.json()["error"]["code"]


async def test_swagger_ui_is_served_from_local_assets(client: httpx.AsyncClient):
    page = await client.get("/swagger")
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
    assert not re.search(r"(src|href)=\"https?://", page.text), "no CDN"
    config = json.loads(re.search(r"const config = (\{.*?\});", page.text).group(1))  # type: ignore[union-attr]
    assert config["url"] == "/swagger/v1/swagger.json" and config["filter"] is True
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "oauth2-redirect.html"):
        response = await client.get(f"/swagger/static/{asset}")
        assert response.status_code == 200 and len(response.content) > 500, asset


async def test_company_resources_document_their_writes(client: httpx.AsyncClient):
    document = (await client.get("/swagger/v1/swagger.json?company=9999")).json()
    paths = document["paths"]
    assert set(paths["/api/{companyNo}/orders"]) == {"get", "post"}
    assert set(paths["/api/{companyNo}/orders/{OrderNo}"]) == {"get", "put", "patch", "delete"}
    create = paths["/api/{companyNo}/orders"]["post"]
    assert {p["name"] for p in parameters_of(document, create)} >= {"$numberSeries", "Idempotency-Key"}
    assert {"201", "409", "413", "415", "422", "502"} <= set(create["responses"])
    order_write = document["components"]["schemas"]["OrderWrite"]
    assert order_write["properties"]["OrderLines"]["items"] == {"$ref": "#/components/schemas/OrderLineWrite"}
    assert order_write["additionalProperties"] is False
    update = paths["/api/{companyNo}/orders/{OrderNo}"]["patch"]
    assert "If-Match" in {p["name"] for p in parameters_of(document, update)} and "412" in update["responses"]
    assert set(paths["/api/vbsys/companies"]) == {"get"}, "vbsys is read-only"
    assert set(paths["/api/{companyNo}/customers"]) == {"get"}, "views are read-only"
