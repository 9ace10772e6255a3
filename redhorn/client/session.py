"""A logged-in connection to one redhorn server: the bearer token, its renewal, and retried GETs.

The password is sent only to the token endpoint, once per token; every other request carries the
token, which is renewed before it expires and, should the server refuse it anyway (a restart with a
new signing key), once more on a 401. Neither ever appears in a message or a `repr`.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec

from redhorn.client.errors import ConnectionFailed, LoginError, ServerError
from redhorn.client.retry import RETRIED_STATUSES, RetryPolicy

TOKEN_PATH = "/api/oauth/token"
# Decimal numbers stay exact: amounts go to the output as the server wrote them.
DECODER = msgspec.json.Decoder(float_hook=Decimal)
_RETRIED_ERRORS = (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class Credentials:
    """Where to log in and as whom; `company` is a company number, `vbsys` or `catalog`."""

    url: str
    user: str
    password: str = field(repr=False)
    company: str = "9999"

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")


@dataclass(frozen=True)
class Answer:
    """A successful answer: its headers and its decoded JSON body."""

    headers: httpx.Headers
    body: Any


def tls_verification(*, insecure: bool = False, ca_file: str | None = None) -> ssl.SSLContext | bool:
    """What httpx checks the server's certificate against: the system's CAs, a given CA file, or nothing."""
    if insecure:
        return False
    if ca_file:
        return ssl.create_default_context(cafile=ca_file)
    return True


class Session:
    """An httpx client logged in as `credentials`; use as `async with Session(...) as session`."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        verify: ssl.SSLContext | bool = True,
        retry: RetryPolicy | None = None,
        timeout: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.credentials = credentials
        self.retry = retry or RetryPolicy()
        self.logins = 0
        self._client = httpx.AsyncClient(
            verify=verify, timeout=timeout, transport=transport, follow_redirects=False, trust_env=False
        )
        self._clock = clock
        self._sleep = sleep
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()
        self._origin = _origin(credentials.base_url)

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._client.aclose()

    def __repr__(self) -> str:
        return f"Session({self.credentials.base_url!r}, user={self.credentials.user!r})"

    def api_url(self, *segments: str) -> str:
        """`{url}/api/{company}/...`."""
        return "/".join([self.credentials.base_url, "api", self.credentials.company, *segments])

    async def get(
        self, url: str, *, params: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> Answer:
        """GET `url` (on this server only) as the logged-in user; retried, and renewed once on a 401.

        Raises:
            ServerError: the server answered an error that retrying does not cure.
            ConnectionFailed: no answer after every retry.
            LoginError: the credentials were refused.
        """
        if _origin(url) != self._origin:
            raise ServerError(0, "ForeignLink", f"the server linked to {url!r}, outside {self._origin}")
        renewed = False
        while True:
            token = await self.token()
            request_headers = {**(headers or {}), "Authorization": f"Bearer {token}", "Accept": "application/json"}
            response = await self._send("GET", url, params=params, headers=request_headers)
            if response.status_code == 401 and not renewed:
                self._forget(token)
                renewed = True
                continue
            return _answer(response)

    async def token(self) -> str:
        """The current access token, logging in first when there is none or it is about to expire."""
        async with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                await self._login()
            assert self._token is not None
            return self._token

    def _forget(self, token: str) -> None:
        if self._token == token:  # another request may have renewed it meanwhile
            self._token = None

    async def _login(self) -> None:
        form = {"grant_type": "password", "username": self.credentials.user, "password": self.credentials.password}
        started = self._clock()
        response = await self._send("POST", self.credentials.base_url + TOKEN_PATH, data=form)
        try:
            body = DECODER.decode(response.content) if response.content else None
        except msgspec.DecodeError:
            body = None
        if response.status_code != 200:
            error = ServerError.from_body(response.status_code, body, response.text)
            raise LoginError(f"login as {self.credentials.user!r} failed: {error}")
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise LoginError(f"login as {self.credentials.user!r} failed: the token endpoint answered no token")
        lifetime = float(body.get("expires_in") or 3600)
        self._token = body["access_token"]
        # Renewed a minute before it expires, or halfway through a short life.
        self._renew_at = started + max(lifetime - 60.0, lifetime / 2)
        self.logins += 1

    async def _send(self, method: str, url: str, **options: Any) -> httpx.Response:
        attempts = max(1, self.retry.attempts)
        for attempt in range(1, attempts + 1):
            try:
                response = await self._client.request(method, url, **options)
            except _RETRIED_ERRORS as exc:
                if attempt == attempts:
                    raise ConnectionFailed(
                        f"no answer from {self._origin} after {attempts} attempts: {exc!r}"
                    ) from None
                await self._sleep(self.retry.delay(attempt))
                continue
            if response.status_code in RETRIED_STATUSES and attempt < attempts:
                await self._sleep(self.retry.delay(attempt, response.headers.get("Retry-After")))
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover


def _answer(response: httpx.Response) -> Answer:
    try:
        body = DECODER.decode(response.content) if response.content else None
    except msgspec.DecodeError:
        body = None
    if response.status_code >= 400:
        raise ServerError.from_body(response.status_code, body, response.text)
    if body is None:
        raise ServerError(response.status_code, "NotJson", "the server's answer is not JSON")
    return Answer(response.headers, body)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"
