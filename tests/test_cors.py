"""CORS from `Cors` in the settings: preflights answered before authentication, off by default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from redhorn.errors import SettingsError
from redhorn.settings import parse_settings
from tests.conftest import running_client, settings_document, start_server

ALLOWED = "https://erp.example.com"
OTHER = "https://evil.example.net"
PREFLIGHT = {
    "Access-Control-Request-Method": "PATCH",
    "Access-Control-Request-Headers": "authorization, if-match, content-type",
}


def cors_settings(folder: Path, **cors: Any):
    section = {"AllowedOrigins": [ALLOWED], **cors}
    return parse_settings(json.dumps(settings_document(folder, Cors=section)))


def cors_headers(headers: Any) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name.lower().startswith("access-control-")}


async def test_a_preflight_from_an_allowed_origin_is_answered_without_credentials(demo_folder: Path):
    async with running_client(cors_settings(demo_folder), demo_folder, auth=None) as client:
        response = await client.options("/api/9999/orders/1", headers={"Origin": ALLOWED, **PREFLIGHT})
    assert response.status_code == 200
    headers = response.headers
    assert headers["access-control-allow-origin"] == ALLOWED
    assert {"GET", "POST", "PUT", "PATCH", "DELETE"} <= set(headers["access-control-allow-methods"].split(", "))
    assert {"authorization", "if-match", "content-type", "prefer", "idempotency-key"} <= {
        name.lower() for name in headers["access-control-allow-headers"].split(", ")
    }
    assert headers["access-control-max-age"] == "600"
    assert "access-control-allow-credentials" not in headers
    assert "Origin" in headers["vary"]


async def test_a_preflight_from_another_origin_gets_no_cors_header(demo_folder: Path):
    async with running_client(cors_settings(demo_folder), demo_folder, auth=None) as client:
        response = await client.options("/api/9999/orders", headers={"Origin": OTHER, **PREFLIGHT})
    assert response.status_code == 400
    assert cors_headers(response.headers) == {}
    assert response.headers["vary"] == "Origin"


async def test_a_cross_origin_get_carries_the_origin_and_exposes_the_etag(demo_folder: Path):
    async with running_client(cors_settings(demo_folder), demo_folder) as client:
        response = await client.get("/api/9999/orders/1", headers={"Origin": ALLOWED})
        other = await client.get("/api/9999/orders/1", headers={"Origin": OTHER})
        same_origin = await client.get("/api/9999/orders/1")
    assert response.status_code == 200 and response.headers["etag"]
    assert response.headers["access-control-allow-origin"] == ALLOWED
    exposed = response.headers["access-control-expose-headers"].split(", ")
    assert {"ETag", "Preference-Applied", "Location", "Retry-After", "X-Request-ID"} <= set(exposed)
    assert "Origin" in response.headers["vary"]
    assert other.status_code == 200 and cors_headers(other.headers) == {}
    assert "Origin" in other.headers["vary"], "caches keep answers to different origins apart"
    assert cors_headers(same_origin.headers) == {}


async def test_an_error_answer_carries_cors_headers_so_the_page_can_read_it(demo_folder: Path):
    async with running_client(cors_settings(demo_folder), demo_folder, auth=None) as client:
        response = await client.get("/api/9999/orders", headers={"Origin": ALLOWED})
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == ALLOWED


async def test_credentials_and_max_age_follow_the_settings(demo_folder: Path):
    settings = cors_settings(demo_folder, AllowCredentials=True, MaxAgeSeconds=60, AllowedMethods=["get"])
    async with running_client(settings, demo_folder, auth=None) as client:
        allowed = await client.options(
            "/api/9999/orders", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET"}
        )
        refused = await client.options("/api/9999/orders", headers={"Origin": ALLOWED, **PREFLIGHT})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert allowed.headers["access-control-max-age"] == "60"
    assert refused.status_code == 400, "PATCH is not among the allowed methods"


async def test_cors_is_off_by_default_and_a_preflight_is_405_as_before(demo_folder: Path):
    settings = parse_settings(json.dumps(settings_document(demo_folder)))
    assert settings.cors.allowed_origins == ()
    async with running_client(settings, demo_folder, auth=None) as client:
        preflight = await client.options("/api/9999/orders", headers={"Origin": ALLOWED, **PREFLIGHT})
        response = await client.get("/health", headers={"Origin": ALLOWED})
    assert preflight.status_code == 405
    assert cors_headers(preflight.headers) == {} and cors_headers(response.headers) == {}


async def test_plain_http_is_refused_before_cors_answers(demo_folder: Path):
    async with running_client(cors_settings(demo_folder), demo_folder, auth=None) as client:
        response = await client.options("http://testserver/api/9999/orders", headers={"Origin": ALLOWED, **PREFLIGHT})
    assert response.status_code == 403 and cors_headers(response.headers) == {}


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"AllowedOrigins": ["https://erp.example.com/"]}, "is not an origin"),
        ({"AllowedOrigins": ["erp.example.com"]}, "is not an origin"),
        ({"AllowedOrigins": ["*"], "AllowCredentials": True}, "every site"),
        ({"AllowedMethods": ["GET POST"]}, "is not an HTTP method or header name"),
        ({"MaxAgeSeconds": -1}, "Expected `int` >= 0 (key $.Cors.MaxAgeSeconds"),
    ],
)
def test_settings_that_cannot_work_are_refused(demo_folder: Path, section: dict[str, Any], message: str):
    with pytest.raises(SettingsError) as raised:
        parse_settings(json.dumps(settings_document(demo_folder, Cors=section)))
    assert message in str(raised.value)


@pytest.mark.e2e
def test_a_browser_conversation_over_tls(tmp_path: Path, demo_folder: Path):
    document = settings_document(demo_folder, Cors={"AllowedOrigins": [ALLOWED]})
    with start_server(tmp_path, document) as server:
        with server.client(auth=None) as anonymous:
            preflight = anonymous.options("/api/9999/orders/1", headers={"Origin": ALLOWED, **PREFLIGHT})
            foreign = anonymous.options("/api/9999/orders/1", headers={"Origin": OTHER, **PREFLIGHT})
        with server.client() as user:
            row = user.get("/api/9999/orders/1", headers={"Origin": ALLOWED, "Accept-Encoding": "gzip"})
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == ALLOWED
    assert "PATCH" in preflight.headers["access-control-allow-methods"]
    assert foreign.status_code == 400 and cors_headers(foreign.headers) == {}
    assert row.status_code == 200 and row.headers["access-control-allow-origin"] == ALLOWED
    assert "ETag" in row.headers["access-control-expose-headers"] and row.headers["etag"]
