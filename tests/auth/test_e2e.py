"""Authentication and access rules against real `redhorn serve` processes over TLS."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from redhorn.auth.passwords import hash_password
from tests.conftest import DEMO_USER, Server, settings_document, start_server
from tests.test_error_shape import assert_error_shape

pytestmark = pytest.mark.e2e

HASHED_PASSWORD = "correct horse battery staple"
USERS: list[dict[str, Any]] = [
    {
        "Username": "demo",
        "Password": "demo-password",
        "AllowAccessToSysDb": True,
        "AllowAccessToCatalogDb": True,
        "AccessibleCompanies": [{"CompanyNo": 9999}, {"CompanyNo": 1}, {"CompanyNo": 4242}],
    },
    {"Username": "hashed", "Password": hash_password(HASHED_PASSWORD), "AccessibleCompanies": [{"CompanyNo": 9999}]},
    {
        "Username": "tokenonly",
        "Password": "tokenonly-password",
        "AllowBasicAuthentication": False,
        "AccessibleCompanies": [{"CompanyNo": 1}],
    },
    {"Username": "nobody", "Password": "nobody-password"},
    {"Username": "victim", "Password": "victim-password", "AccessibleCompanies": [{"CompanyNo": 9999}]},
    {"Username": "victim2", "Password": "victim2-password", "AccessibleCompanies": [{"CompanyNo": 9999}]},
]
SETTINGS = {
    "ApiUsers": USERS,
    "Tokens": {"SigningKey": "e2e-shared-signing-key-0123456789"},
    "Authentication": {"MaxFailedLogins": 3, "MaxFailedLoginsPerAddress": 1000, "FailedLoginWindowSeconds": 60},
}
SECRETS = [user["Password"] for user in USERS] + [HASHED_PASSWORD, "e2e-shared-signing-key-0123456789"]


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory, demo_folder: Path) -> Iterator[Server]:
    with start_server(tmp_path_factory.mktemp("auth"), settings_document(demo_folder, "sqlite", **SETTINGS)) as server:
        yield server


def get_token(server: Server, username: str, password: str) -> str:
    with server.client(auth=None) as client:
        response = client.post(
            "/api/oauth/token", data={"grant_type": "password", "username": username, "password": password}
        )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_token_endpoint_issues_a_bearer_token(auth_server: Server):
    with auth_server.client(auth=None) as client:
        response = client.post(
            "/api/oauth/token", data={"grant_type": "password", "username": "demo", "password": "demo-password"}
        )
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"access_token", "token_type", "expires_in"}
        assert body["token_type"] == "bearer" and body["expires_in"] == 7200
        assert response.headers["cache-control"] == "no-store"
        rows = client.get("/api/9999/orders?$top=2", headers=bearer(body["access_token"]))
        assert rows.status_code == 200 and len(rows.json()["value"]) == 2


@pytest.mark.parametrize(
    ("kwargs", "status", "error"),
    [
        pytest.param(
            {"data": {"grant_type": "password", "username": "demo", "password": "nope"}},
            400,
            "invalid_grant",
            id="wrong-password",
        ),
        pytest.param(
            {"data": {"grant_type": "password", "username": "ghost", "password": "x"}},
            400,
            "invalid_grant",
            id="unknown-user",
        ),
        pytest.param({"data": {"grant_type": "client_credentials"}}, 400, "unsupported_grant_type", id="grant-type"),
        pytest.param(
            {"data": {"username": "demo", "password": "demo-password"}}, 400, "invalid_request", id="no-grant-type"
        ),
        pytest.param(
            {"data": {"grant_type": "password", "username": "demo"}}, 400, "invalid_request", id="no-password"
        ),
        pytest.param(
            {"json": {"grant_type": "password", "username": "demo", "password": "demo-password"}},
            400,
            "invalid_request",
            id="json-body",
        ),
        pytest.param(
            {
                "content": b"grant_type=password&" + b"x" * 20000,
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
            400,
            "invalid_request",
            id="huge-body",
        ),
        pytest.param(
            {"content": b"\xff\xfe", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
            400,
            "invalid_request",
            id="not-utf8",
        ),
        pytest.param(
            {"params": {"grant_type": "password", "username": "demo", "password": "demo-password"}},
            400,
            "invalid_request",
            id="in-query-string",
        ),
    ],
)
def test_token_endpoint_errors_follow_rfc_6749(auth_server: Server, kwargs, status, error):
    with auth_server.client(auth=None) as client:
        response = client.post("/api/oauth/token", **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert isinstance(response.json().get("error_description"), str)
    assert response.headers["cache-control"] == "no-store"


def test_token_endpoint_only_takes_post(auth_server: Server):
    with auth_server.client(auth=None) as client:
        assert_error_shape(client.get("/api/oauth/token"), 405, "MethodNotAllowed")


def test_basic_with_plain_and_hashed_passwords(auth_server: Server):
    with auth_server.client(auth=("hashed", HASHED_PASSWORD)) as client:
        assert client.get("/api/9999/orders?$top=1").status_code == 200
        assert client.get("/api/9999/orders?$top=1").status_code == 200  # remembered, same answer
    with auth_server.client(auth=("hashed", HASHED_PASSWORD + "x")) as client:
        assert_error_shape(client.get("/api/9999/orders?$top=1"), 401, "InvalidCredentials")
    assert get_token(auth_server, "hashed", HASHED_PASSWORD)


def test_no_or_bad_credentials_are_401_with_both_challenges(auth_server: Server):
    with auth_server.client(auth=None) as client:
        for headers, code in [
            ({}, "AuthenticationRequired"),
            ({"Authorization": "Basic !!!"}, "InvalidCredentials"),
            ({"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}, "InvalidCredentials"),
            ({"Authorization": "Digest abc"}, "InvalidCredentials"),
        ]:
            response = client.get("/api/9999/orders", headers=headers)
            assert_error_shape(response, 401, code)
            challenges = response.headers["www-authenticate"]
            assert "Basic realm=" in challenges and "Bearer realm=" in challenges
        response = client.get("/api/9999/orders", headers=bearer("not-a-token"))
        assert_error_shape(response, 401, "InvalidToken")
        assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_tampered_and_foreign_tokens_are_refused(auth_server: Server):
    token = get_token(auth_server, "demo", "demo-password")
    header, payload, signature = token.split(".")
    forged_payload = (
        base64.urlsafe_b64encode(base64.urlsafe_b64decode(payload + "==").replace(b'"demo"', b'"hashed"'))
        .rstrip(b"=")
        .decode()
    )
    with auth_server.client(auth=None) as client:
        for forged in (f"{header}.{forged_payload}.{signature}", f"{header}.{payload}.{signature[:-2]}AA"):
            assert_error_shape(client.get("/api/9999/orders", headers=bearer(forged)), 401, "InvalidToken")


def test_basic_can_be_forbidden_per_user_while_tokens_work(auth_server: Server):
    with auth_server.client(auth=("tokenonly", "tokenonly-password")) as client:
        assert_error_shape(client.get("/api/1/orders?$top=1"), 401, "BasicAuthenticationNotAllowed")
    token = get_token(auth_server, "tokenonly", "tokenonly-password")
    with auth_server.client(auth=None) as client:
        assert client.get("/api/1/orders?$top=1", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize(
    ("user", "path", "status", "code"),
    [
        pytest.param(DEMO_USER, "/api/4242/orders", 404, "CompanyNotFound", id="listed-but-missing"),
        pytest.param(DEMO_USER, "/api/1234/orders", 403, "CompanyAccessDenied", id="unlisted-missing"),
        pytest.param(("hashed", HASHED_PASSWORD), "/api/1/orders", 403, "CompanyAccessDenied", id="unlisted-existing"),
        pytest.param(("hashed", HASHED_PASSWORD), "/api/1", 403, "CompanyAccessDenied", id="resources"),
        pytest.param(("hashed", HASHED_PASSWORD), "/api/1/orders/1", 403, "CompanyAccessDenied", id="by-key"),
        pytest.param(("hashed", HASHED_PASSWORD), "/api/1/orders/$count", 403, "CompanyAccessDenied", id="count"),
        pytest.param(("hashed", HASHED_PASSWORD), "/api/vbsys/companies", 403, "DatabaseAccessDenied", id="vbsys"),
        pytest.param(("hashed", HASHED_PASSWORD), "/api/catalog", 403, "DatabaseAccessDenied", id="catalog"),
        pytest.param(("nobody", "nobody-password"), "/api/9999/orders", 403, "CompanyAccessDenied", id="no-companies"),
        pytest.param(DEMO_USER, "/api/vbsys/companies", 200, None, id="vbsys-allowed"),
        pytest.param(DEMO_USER, "/api/Catalog", 200, None, id="catalog-allowed"),
    ],
)
def test_access_rules_on_every_path(auth_server: Server, user, path, status, code):
    with auth_server.client(auth=user) as client:
        response = client.get(path)
    if code is None:
        assert response.status_code == status, response.text
    else:
        assert_error_shape(response, status, code)


def test_credentials_in_the_query_string_are_refused(auth_server: Server):
    token = get_token(auth_server, "demo", "demo-password")
    with auth_server.client(auth=None) as client:
        for name in ("access_token", "ACCESS_TOKEN", "password"):
            response = client.get("/api/9999/orders", params={name: token})
            assert_error_shape(response, 400, "TokenInQueryString")


def test_failed_logins_are_throttled(auth_server: Server):
    with auth_server.client(auth=("victim", "wrong")) as client:
        for _ in range(3):
            assert_error_shape(client.get("/api/9999/orders?$top=1"), 401, "InvalidCredentials")
        response = client.get("/api/9999/orders?$top=1", auth=("victim", "victim-password"))
        assert_error_shape(response, 429, "TooManyFailedLogins")
        assert 1 <= int(response.headers["retry-after"]) <= 60
    with auth_server.client(auth=None) as client:
        form = {"grant_type": "password", "username": "victim2", "password": "wrong"}
        for _ in range(3):
            assert client.post("/api/oauth/token", data=form).status_code == 400
        response = client.post("/api/oauth/token", data={**form, "password": "victim2-password"})
        assert response.status_code == 429 and response.json()["error"] == "invalid_grant"
        assert int(response.headers["retry-after"]) >= 1
    with auth_server.client() as client:  # other users from the same address are not held back
        assert client.get("/api/9999/orders?$top=1").status_code == 200


def claims_of(token: str) -> dict[str, Any]:
    """A JWT's claims, read without verifying (the server verifies)."""
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_tokens_expire(tmp_path: Path, demo_folder: Path):
    """Exact on both sides: a token lives at least its lifetime, and not a moment past its `exp`."""
    document = settings_document(
        demo_folder, Tokens={"SigningKey": "expiry-key-0123456789abcdef", "LifetimeSeconds": 2}
    )
    with start_server(tmp_path, document) as server:
        asked = time.time()
        token = get_token(server, "demo", "demo-password")
        expires = claims_of(token)["exp"]
        assert expires >= asked + 2
        with server.client(auth=None) as client:
            response = client.get("/api/9999/orders?$top=1", headers=bearer(token))
            assert time.time() < expires, "the machine stalled for the token's whole lifetime"
            assert response.status_code == 200
            time.sleep(max(0.0, expires - time.time()) + 0.05)
            response = client.get("/api/9999/orders?$top=1", headers=bearer(token))
    assert_error_shape(response, 401, "InvalidToken")
    assert "expired" in response.json()["error"]["message"]


def test_a_token_from_one_process_works_on_another(tmp_path: Path, demo_folder: Path):
    document = settings_document(demo_folder, "sqlite", **SETTINGS)
    with start_server(tmp_path / "a", document) as first, start_server(tmp_path / "b", document) as second:
        assert first.process.pid != second.process.pid
        token = get_token(first, "demo", "demo-password")
        with second.client(auth=None) as client:
            response = client.get("/api/9999/orders?$top=3", headers=bearer(token))
        assert response.status_code == 200 and len(response.json()["value"]) == 3
    changed = settings_document(
        demo_folder, "sqlite", **{**SETTINGS, "ApiUsers": [{**USERS[0], "Password": "new-password"}]}
    )
    with start_server(tmp_path / "c", changed) as restarted, restarted.client(auth=None) as client:
        response = client.get("/api/9999/orders?$top=3", headers=bearer(token))
    assert_error_shape(response, 401, "InvalidToken")


def test_no_secret_reaches_the_log(auth_server: Server):
    token = get_token(auth_server, "demo", "demo-password")
    with auth_server.client(auth=None) as client:
        client.get("/api/9999/orders", params={"access_token": token})
        client.get("/api/9999/orders", headers=bearer(token))
        client.get("/api/9999/orders", headers=bearer(token + "x"))
        client.post("/api/oauth/token", data={"grant_type": "password", "username": "demo", "password": "guess-123"})
    log = auth_server.log()
    assert "GET /api/9999/orders" in log, "the access log is on, so the scan means something"
    for secret in [*SECRETS, token, "guess-123", token.split(".")[2]]:
        assert secret not in log
    assert "Authorization" not in log and "Bearer " not in log


def test_hash_password_command_prints_a_usable_hash(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "redhorn", "hash-password"],
        input="pa55word\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    hashed = result.stdout.strip()
    assert hashed.startswith("$argon2id$") and "pa55word" not in hashed
    import asyncio

    from redhorn.auth.passwords import verify_password

    assert asyncio.run(verify_password(hashed, "pa55word"))


def test_health_needs_no_credentials(auth_server: Server):
    with httpx.Client(verify=auth_server.ssl_context()) as client:
        response = client.get(auth_server.base_url + "/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
