"""Findings 3, 6, 10 and 12: logins, their throttle, their timing, and what the log keeps of them."""

from __future__ import annotations

import base64
import json
import logging
import statistics
import sys
import time
from typing import Any

import httpx
import pytest

from redhorn.application import create_authenticator
from redhorn.auth import throttle as throttle_module
from redhorn.auth.passwords import hash_password
from redhorn.auth.throttle import LoginThrottle
from redhorn.errors import InvalidCredentials, TooManyFailedLogins
from redhorn.server.redaction import RedactSecrets, redact
from redhorn.settings import AuthenticationSettings, parse_settings
from tests.conftest import running_client, settings_document

ADDRESS = "203.0.113.7"


def basic(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode()


def settings_with(users: list[dict[str, Any]], **extra: Any):
    document = {"VismaConnection": {"VismaDbConnectionString": "Engine=sqlite;Data Source=/nowhere"}, "ApiUsers": users}
    return parse_settings(json.dumps(document | extra))


ALICE = {"Username": "alice", "Password": "alice-secret", "AccessibleCompanies": [{"CompanyNo": 9999}]}


async def test_a_locked_out_address_is_refused_the_right_password_even_after_it_once_succeeded():
    """Finding 3: the cache of successful Basic logins was consulted before the throttle."""
    authenticator = create_authenticator(settings_with([ALICE], Authentication={"MaxFailedLogins": 3}), b"k" * 32)
    right = basic("alice", "alice-secret")
    assert (await authenticator.basic(right, ADDRESS)).username == "alice"  # remembered from now on
    for _ in range(3):
        with pytest.raises(InvalidCredentials):
            await authenticator.basic(basic("alice", "guess"), ADDRESS)
    with pytest.raises(TooManyFailedLogins):
        await authenticator.basic(right, ADDRESS)
    assert (await authenticator.basic(right, "198.51.100.1")).username == "alice", "other addresses are not locked"


async def test_the_basic_lockout_holds_over_http(demo_folder):
    document = settings_document(demo_folder, "sqlite", Authentication={"MaxFailedLogins": 2})
    async with running_client(parse_settings(json.dumps(document)), demo_folder, auth=None) as client:
        right = {"Authorization": "Basic " + basic("demo", "demo-password")}
        assert (await client.get("/api/9999", headers=right)).status_code == 200
        for _ in range(2):
            wrong = {"Authorization": "Basic " + basic("demo", "nope")}
            assert (await client.get("/api/9999", headers=wrong)).status_code == 401
        refused = await client.get("/api/9999", headers=right)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "TooManyFailedLogins"


def test_the_throttle_keeps_a_fixed_size_per_username_however_long(monkeypatch: pytest.MonkeyPatch):
    """Finding 6: megabyte usernames were kept whole, forever (+191 MB for 208 attempts)."""
    throttle = LoginThrottle(AuthenticationSettings(max_failed_logins=3))
    for attempt in range(50):
        throttle.record_failure("u" * 1_000_000 + str(attempt), ADDRESS)
    kept = sum(sys.getsizeof(user) for (user, _address) in throttle._failures)
    assert kept < 50 * 100, "usernames are kept as small digests"
    assert all(len(failures) <= 50 for failures in throttle._failures.values())


def test_the_throttle_forgets_the_oldest_keys_past_its_bound(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(throttle_module, "_MAX_KEYS", 100)
    throttle = LoginThrottle(AuthenticationSettings())
    for attempt in range(1000):
        throttle.record_failure(f"user-{attempt}", f"10.0.{attempt // 250}.{attempt % 250}")
    assert len(throttle._failures) <= 100


def test_a_key_keeps_no_more_failures_than_its_limit():
    throttle = LoginThrottle(AuthenticationSettings(max_failed_logins=3, max_failed_logins_per_address=5))
    for _ in range(10_000):
        throttle.record_failure("alice", ADDRESS)
    assert sorted(len(failures) for failures in throttle._failures.values()) == [3, 5]
    with pytest.raises(TooManyFailedLogins):
        throttle.check("alice", ADDRESS)


async def test_unknown_and_known_usernames_cost_the_same_when_plain_and_hashed_passwords_mix():
    """Finding 10: an unknown user took 265 ms (a dummy Argon2 check), a plain user's wrong password 30 ms."""
    users = [
        {"Username": "hashed", "Password": hash_password("h-secret"), "AccessibleCompanies": []},
        {"Username": "plain", "Password": "p-secret", "AccessibleCompanies": []},
    ]
    authenticator = create_authenticator(
        settings_with(users, Authentication={"MaxFailedLogins": 1000, "MaxFailedLoginsPerAddress": 1000}), b"k" * 32
    )
    timings: dict[str, list[float]] = {"unknown": [], "plain": []}
    for round_no in range(9):
        for username in ("unknown", "plain") if round_no % 2 else ("plain", "unknown"):
            started = time.perf_counter()
            with pytest.raises(InvalidCredentials):
                await authenticator.login(username, "wrong", f"192.0.2.{round_no}")
            timings[username].append(time.perf_counter() - started)
    unknown, plain = statistics.median(timings["unknown"]), statistics.median(timings["plain"])
    assert 0.9 <= plain / unknown <= 1.1, f"medians: unknown {unknown * 1000:.1f} ms, plain {plain * 1000:.1f} ms"


@pytest.mark.parametrize(
    "line",
    [
        "GET /api/9999/orders?pass%77ord=hunter2&$top=1 HTTP/1.1",
        "GET /api/9999/orders?acc%65ss_token=hunter2 HTTP/1.1",
        "GET /api/9999/orders?$top=1&PASSWORD=hunter2 HTTP/1.1",
        "GET /api/9999/orders?%70%61%73%73%77%6f%72%64=hunter2 HTTP/1.1",
        "GET /api/9999/orders?api+key=x&api_key=hunter2 HTTP/1.1",
    ],
)
def test_percent_encoded_credential_names_are_redacted_from_the_access_log(line: str):
    """Finding 12: `pass%77ord=` was refused but logged verbatim."""
    assert "hunter2" not in redact(line)
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s" %d', ("1.2.3.4", line, 401), None
    )
    RedactSecrets().filter(record)
    assert "hunter2" not in record.getMessage()


async def test_a_percent_encoded_password_parameter_is_refused(client: httpx.AsyncClient):
    for query in ("password=hunter2", "pass%77ord=hunter2", "acc%65ss_token=hunter2"):
        response = await client.get(f"/api/9999/orders?{query}")
        assert response.status_code == 400 and response.json()["error"]["code"] == "TokenInQueryString", query


def test_a_huge_request_line_is_logged_cut_to_a_bounded_length():
    """New in the re-run: a 65 KB query string refused with 414 was written whole into the access log."""
    line = "GET /api/9999/orders?$orderby=" + "A," * 30_000 + "&password=hunter2 HTTP/1.1"
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s" %d', ("1.2.3.4", line, 414), None
    )
    RedactSecrets().filter(record)
    logged = record.getMessage()
    assert len(logged) < 2200 and "characters)" in logged and "hunter2" not in logged
