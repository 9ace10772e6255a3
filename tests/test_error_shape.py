"""Every bad input on the read path: the right status, a stable code, one JSON shape, never a 500."""

from __future__ import annotations

import httpx
import pytest

CASES = [
    pytest.param("GET", "/api/4242/orders", 404, "CompanyNotFound", id="listed-company-missing"),
    pytest.param("GET", "/api/1234/orders", 403, "CompanyAccessDenied", id="company-not-listed"),
    pytest.param("GET", "/api/9999/orders?access_token=abc", 400, "TokenInQueryString", id="token-in-query"),
    pytest.param(
        "GET", "/api/9999/orders?%61ccess_%54oken=abc", 400, "TokenInQueryString", id="token-in-query-encoded"
    ),
    pytest.param("GET", "/api/abc/orders", 404, "CompanyNotFound", id="company-not-a-number"),
    pytest.param("GET", "/api/9999/nothings", 404, "ResourceNotFound", id="unknown-resource"),
    pytest.param("GET", "/api/9999/orders/99999999", 404, "RowNotFound", id="unknown-key"),
    pytest.param("GET", "/api/9999/orders/abc", 400, "InvalidKey", id="key-not-an-integer"),
    pytest.param("GET", "/api/9999/orders/1.5", 400, "InvalidKey", id="key-decimal"),
    pytest.param("GET", "/api/9999/orders/99999999999999999999", 400, "InvalidKey", id="key-huge"),
    pytest.param("GET", "/api/9999/orderlines/1", 400, "InvalidKey", id="too-few-key-parts"),
    pytest.param("GET", "/api/9999/orders/1/2", 400, "InvalidKey", id="too-many-key-parts"),
    pytest.param("GET", "/api/9999/products/" + "x" * 41, 400, "InvalidKey", id="key-too-long"),
    pytest.param("GET", "/api/9999/orders/1?$top=1", 400, "InvalidQuery", id="top-on-single-row"),
    pytest.param("GET", "/api/9999/orders?$orderBy=Foo", 400, "InvalidQuery", id="unknown-orderby"),
    pytest.param("GET", "/api/9999/orders?$select=Foo", 400, "InvalidQuery", id="unknown-select"),
    pytest.param("GET", "/api/9999/orders?$filter=Foo eq 1", 400, "InvalidQuery", id="unknown-filter-property"),
    pytest.param("GET", "/api/9999/orders?$filter=Name eq 1", 400, "InvalidQuery", id="filter-type-mismatch"),
    pytest.param("GET", "/api/9999/orders?$filter=contains(OrderNo,'1')", 400, "InvalidQuery", id="function-type"),
    pytest.param("GET", "/api/9999/orders?$filter=Name", 400, "InvalidQuery", id="filter-not-a-condition"),
    pytest.param("GET", "/api/9999/orders?$filter=OrderNo gt null", 400, "InvalidQuery", id="gt-null"),
    pytest.param("GET", "/api/9999/orders?$top=-1", 400, "InvalidQuery", id="negative-top"),
    pytest.param("GET", "/api/9999/orders?$top=ten", 400, "InvalidQuery", id="text-top"),
    pytest.param("GET", "/api/9999/orders?$top=1000000000000", 400, "InvalidQuery", id="huge-top"),
    pytest.param("GET", "/api/9999/orders?$skip=-3", 400, "InvalidQuery", id="negative-skip"),
    pytest.param("GET", "/api/9999/orders?$bogus=1", 400, "InvalidQuery", id="unknown-option"),
    pytest.param("GET", "/api/9999/orders?$skiptoken=abc.def", 400, "InvalidSkipToken", id="forged-token"),
    pytest.param("GET", "/api/9999/orders/$count?$filter=(", 400, "InvalidQuery", id="count-bad-filter"),
    pytest.param("DELETE", "/api/vbsys", 405, "MethodNotAllowed", id="method"),
    pytest.param("GET", "/nowhere", 404, "NotFound", id="unknown-route"),
]


def assert_error_shape(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"]
    error = body["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert set(error) <= {"code", "message", "target"}
    assert "Traceback" not in response.text


@pytest.mark.parametrize(("method", "url", "status", "code"), CASES)
async def test_error_shape(client: httpx.AsyncClient, method, url, status, code):
    assert_error_shape(await client.request(method, url), status, code)


AUTH_CASES = [
    pytest.param(None, "/api/9999/orders", 401, "AuthenticationRequired", id="no-credentials"),
    pytest.param(("demo", "wrong"), "/api/9999/orders", 401, "InvalidCredentials", id="wrong-password"),
    pytest.param(None, "/api/9999", 401, "AuthenticationRequired", id="resources-no-credentials"),
    pytest.param(None, "/api/9999/orders/1", 401, "AuthenticationRequired", id="key-no-credentials"),
    pytest.param(None, "/api/9999/orders/$count", 401, "AuthenticationRequired", id="count-no-credentials"),
    pytest.param(None, "/api/vbsys/companies", 401, "AuthenticationRequired", id="vbsys-no-credentials"),
]


@pytest.mark.parametrize(("auth", "url", "status", "code"), AUTH_CASES)
async def test_authentication_error_shape(client: httpx.AsyncClient, auth, url, status, code):
    response = await client.get(url, auth=auth or (lambda request: request))
    assert_error_shape(response, status, code)
    assert 'Basic realm="redhorn"' in response.headers["www-authenticate"]
    assert 'Bearer realm="redhorn"' in response.headers["www-authenticate"]


async def test_errors_name_the_option(client):
    body = (await client.get("/api/9999/orders?$orderBy=Foo")).json()
    assert body["error"]["target"] == "$orderBy"
    assert "'Foo'" in body["error"]["message"]
    body = (await client.get("/api/9999/orders?$filter=Name eq 'x' and Foo eq 1")).json()
    assert body["error"]["message"].endswith("at position 16")


async def test_plain_http_is_refused(client: httpx.AsyncClient):
    response = await client.get("http://testserver/api/9999/orders")
    assert_error_shape(response, 403, "HttpsRequired")
    assert "HTTPS" in response.json()["error"]["message"]


async def test_unexpected_errors_are_a_bare_500(settings_factory, demo_folder, monkeypatch, caplog):
    from redhorn.endpoints import service as api
    from tests.conftest import running_client

    async def explode(request):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(api, "list_resources", explode)
    async with running_client(settings_factory(), demo_folder, raise_app_exceptions=False) as client:
        response = await client.get("/api/9999")
    assert_error_shape(response, 500, "InternalError")
    assert "secret internals" not in response.text
    assert "secret internals" in caplog.text
