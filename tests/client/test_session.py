"""The session's login, token renewal, retries and error lines, against httpx MockTransport servers."""

from __future__ import annotations

import datetime as dt
import email.utils

import httpx
import pytest

from redhorn.client import ConnectionFailed, Credentials, LoginError, RetryPolicy, ServerError, Session
from redhorn.client.retry import parse_retry_after
from tests.client.fakes import BASE, PASSWORD

CREDENTIALS = Credentials(BASE, "demo", PASSWORD, company="9999")
TOKEN = {"access_token": "the-token", "expires_in": 3600}


class Sleeps:
    """Records the waits instead of waiting."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def session_for(handler, **options) -> tuple[Session, Sleeps]:
    sleeps = Sleeps()
    session = Session(CREDENTIALS, transport=httpx.MockTransport(handler), sleep=sleeps, **options)
    return session, sleeps


def token_or(answers: list[httpx.Response]):
    """A server answering the token endpoint, then `answers` in turn to everything else."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/oauth/token":
            return httpx.Response(200, json=TOKEN)
        return answers.pop(0)

    return handle


async def test_a_429_with_retry_after_in_seconds_is_retried_after_at_least_that_long():
    answers = [httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={"value": []})]
    session, sleeps = session_for(token_or(answers))
    async with session:
        answer = await session.get(f"{BASE}/api/9999/orders")
    assert answer.body == {"value": []}
    assert len(sleeps.seconds) == 1 and 7 <= sleeps.seconds[0] < 8


async def test_a_503_with_retry_after_as_an_http_date_is_honoured():
    when = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30), usegmt=True)
    answers = [httpx.Response(503, headers={"Retry-After": when}), httpx.Response(200, json={"value": [1]})]
    session, sleeps = session_for(token_or(answers))
    async with session:
        assert (await session.get(f"{BASE}/api/9999/orders")).body == {"value": [1]}
    assert 27 <= sleeps.seconds[0] <= 31


async def test_retries_are_bounded_and_back_off_exponentially_with_jitter():
    answers = [httpx.Response(503, json={"error": {"code": "ServerBusy", "message": "busy"}}) for _ in range(4)]
    policy = RetryPolicy(attempts=4, base_seconds=1, cap_seconds=100)
    session, sleeps = session_for(token_or(answers), retry=policy)
    async with session:
        with pytest.raises(ServerError) as raised:
            await session.get(f"{BASE}/api/9999/orders")
    assert str(raised.value) == "503 ServerBusy: busy"
    assert len(sleeps.seconds) == 3
    assert all(0 <= seconds <= 2**i for i, seconds in enumerate(sleeps.seconds))


async def test_a_lost_connection_is_retried_then_reported():
    calls = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/oauth/token":
            return httpx.Response(200, json=TOKEN)
        calls.append(request)
        if len(calls) < 3:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"value": []})

    session, sleeps = session_for(handle)
    async with session:
        await session.get(f"{BASE}/api/9999/orders")
    assert len(calls) == 3 and len(sleeps.seconds) == 2

    def never(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    session, _ = session_for(never, retry=RetryPolicy(attempts=2))
    async with session:
        with pytest.raises(ConnectionFailed, match="after 2 attempts"):
            await session.get(f"{BASE}/api/9999/orders")


async def test_a_400_is_not_retried_and_says_the_servers_error_in_one_line():
    error = {"error": {"code": "InvalidQuery", "message": "Unknown property\n'Foo'", "target": "$filter"}}
    session, sleeps = session_for(token_or([httpx.Response(400, json=error)]))
    async with session:
        with pytest.raises(ServerError) as raised:
            await session.get(f"{BASE}/api/9999/orders")
    assert str(raised.value) == "400 InvalidQuery: Unknown property 'Foo'"
    assert raised.value.status == 400 and raised.value.code == "InvalidQuery"
    assert sleeps.seconds == []


async def test_a_401_logs_in_again_once_and_repeats_the_request():
    seen: list[str] = []
    logins = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/oauth/token":
            logins.append(request)
            return httpx.Response(200, json={"access_token": f"token-{len(logins)}", "expires_in": 3600})
        seen.append(request.headers["Authorization"])
        if request.headers["Authorization"] == "Bearer token-1":
            return httpx.Response(401, json={"error": {"code": "InvalidToken", "message": "expired"}})
        return httpx.Response(200, json={"value": []})

    session, _ = session_for(handle)
    async with session:
        await session.get(f"{BASE}/api/9999/orders")
    assert seen == ["Bearer token-1", "Bearer token-2"]
    assert len(logins) == 2


async def test_a_second_401_is_an_error():
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/oauth/token":
            return httpx.Response(200, json=TOKEN)
        return httpx.Response(401, json={"error": {"code": "InvalidToken", "message": "no"}})

    session, _ = session_for(handle)
    async with session:
        with pytest.raises(ServerError, match="401 InvalidToken"):
            await session.get(f"{BASE}/api/9999/orders")
    assert session.logins == 2


async def test_the_token_is_renewed_before_it_expires():
    now = [1000.0]
    logins = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/oauth/token":
            logins.append(request.content.decode())
            return httpx.Response(200, json={"access_token": f"t{len(logins)}", "expires_in": 600})
        return httpx.Response(200, json={"value": []})

    session, _ = session_for(handle, clock=lambda: now[0])
    async with session:
        assert await session.token() == "t1"
        now[0] += 500  # 100 s left: still more than a minute
        assert await session.token() == "t1"
        now[0] += 50  # 50 s left: renewed
        assert await session.token() == "t2"
    assert "grant_type=password" in logins[0] and "username=demo" in logins[0]


async def test_a_refused_login_is_one_line_without_the_password():
    def handle(request: httpx.Request) -> httpx.Response:
        body = {"error": "invalid_grant", "error_description": "The username or password is wrong"}
        return httpx.Response(400, json=body)

    session, _ = session_for(handle)
    async with session:
        with pytest.raises(LoginError) as raised:
            await session.get(f"{BASE}/api/9999/orders")
    message = str(raised.value)
    assert message == "login as 'demo' failed: 400 invalid_grant: The username or password is wrong"
    assert PASSWORD not in message and PASSWORD not in repr(session) and PASSWORD not in repr(CREDENTIALS)


async def test_a_link_to_another_server_is_refused_so_the_token_never_leaves():
    session, _ = session_for(token_or([]))
    async with session:
        with pytest.raises(ServerError, match="outside https://fake.test"):
            await session.get("https://elsewhere.test/api/9999/orders")


def test_retry_after_forms():
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:10 GMT", now) == 10
    assert parse_retry_after("Wed, 31 Dec 2025 00:00:10 GMT", now) == 0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_the_client_library_loads_nothing_of_the_server():
    """`import redhorn.client` in a fresh interpreter: no server module, no Starlette, no database driver."""
    import subprocess
    import sys

    watched = "('redhorn.', 'starlette', 'aiosqlite', 'uvicorn')"
    code = f"import sys, redhorn.client; print(' '.join(sorted(m for m in sys.modules if m.startswith({watched}))))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60).stdout
    names = loaded.split()
    assert names and all(name.startswith("redhorn.client") for name in names), names
