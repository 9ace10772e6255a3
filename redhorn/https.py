"""HTTPS only: plain HTTP is refused unless a trusted TLS-terminating proxy forwarded it.

A pure ASGI middleware (no per-request objects) so that it costs nothing on the hot path. For a
trusted proxy it also adopts `X-Forwarded-Proto` and `X-Forwarded-Host`, so absolute links such as
`@odata.nextLink` name the address the client used.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from redhorn.errors import HttpsRequired, error_body


class HttpsOnlyMiddleware:
    def __init__(self, app: ASGIApp, trusted_proxies: Iterable[str] = ()) -> None:
        self.app = app
        self.trusted_proxies = frozenset(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        if self.trusted_proxies and client and client[0] in self.trusted_proxies:
            scope = self._forwarded(scope)
        if scope.get("scheme") != "https":
            await self._refuse(send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _forwarded(scope: Scope) -> Scope:
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        proto = host = None
        for name, value in headers:
            if name == b"x-forwarded-proto":
                proto = value.decode("latin-1").split(",")[0].strip().lower()
            elif name == b"x-forwarded-host":
                host = value.split(b",")[0].strip()
        if proto is None and host is None:
            return scope
        scope = dict(scope)
        if proto in ("http", "https"):
            scope["scheme"] = proto
        if host:
            scope["headers"] = [(n, v) for n, v in headers if n != b"host"] + [(b"host", host)]
        return scope

    @staticmethod
    async def _refuse(send: Send) -> None:
        body = error_body(HttpsRequired("This API is served over HTTPS only; use https://"))
        await send(
            {
                "type": "http.response.start",
                "status": HttpsRequired.status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
