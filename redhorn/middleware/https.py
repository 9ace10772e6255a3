"""HTTPS only: plain HTTP is refused unless a trusted TLS-terminating proxy forwarded it.

A pure ASGI middleware (no per-request objects) so that it costs nothing on the hot path. For a
trusted proxy it also adopts `X-Forwarded-Proto` and `X-Forwarded-Host`, so absolute links such as
`@odata.nextLink` name the address the client used. With `Server.PublicBaseUrl` set, that address
wins over anything a client or proxy says: the request is seen as made to it (scheme, host and a
path prefix as ASGI's `root_path`), so every link and redirect is built from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from redhorn.errors import HttpsRequired, error_body


def route_path(path: str, root_path: str) -> str:
    """`path` without the `root_path` prefix `Server.PublicBaseUrl` puts before it: what routes match."""
    return path[len(root_path) :] if root_path and path.startswith(root_path) else path


class HttpsOnlyMiddleware:
    def __init__(self, app: ASGIApp, trusted_proxies: Iterable[str] = (), public_base_url: str = "") -> None:
        self.app = app
        self.trusted_proxies = frozenset(trusted_proxies)
        public = urlsplit(public_base_url) if public_base_url else None
        self.public_host = public.netloc.encode("latin-1") if public else None
        self.public_prefix = public.path.rstrip("/") if public else ""

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
        if self.public_host is not None:
            scope = self._public(scope)
        await self.app(scope, receive, send)

    def _public(self, scope: Scope) -> Scope:
        """`scope` as if made to `PublicBaseUrl`: its host, and its path prefix as the root path."""
        assert self.public_host is not None
        scope = dict(scope)
        scope["headers"] = [(n, v) for n, v in scope["headers"] if n != b"host"] + [(b"host", self.public_host)]
        if self.public_prefix:
            scope["root_path"] = self.public_prefix
            scope["path"] = self.public_prefix + scope["path"]
            raw_path: bytes | None = scope.get("raw_path")
            if raw_path is not None:
                scope["raw_path"] = self.public_prefix.encode("latin-1") + raw_path
        return scope

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
