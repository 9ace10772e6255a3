"""CORS for browser pages of other origins (`Cors` in the settings): Starlette's middleware, stricter.

Starlette answers a preflight from an origin it does not allow with the allowed methods and
headers all the same, and adds `Access-Control-Expose-Headers` (and `-Allow-Credentials`) to every
answer that carries an `Origin`, allowed or not. Here an origin that is not allowed gets no CORS
header at all, only `Vary: Origin` (answers differ by origin, so caches must keep them apart):
nothing tells it what the API would accept, and the browser refuses it as it would without CORS.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Send

from redhorn.settings import CorsSettings


class OriginCorsMiddleware(CORSMiddleware):
    """`CORSMiddleware` that says nothing to an origin it does not allow."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allow_origins: Collection[str],
        allow_methods: Collection[str],
        allow_headers: Collection[str],
        expose_headers: Collection[str],
        allow_credentials: bool,
        max_age: int,
    ) -> None:
        super().__init__(
            app,
            allow_origins=tuple(allow_origins),
            allow_methods=tuple(method.upper() for method in allow_methods),
            allow_headers=tuple(allow_headers),
            expose_headers=tuple(expose_headers),
            allow_credentials=allow_credentials,
            max_age=max_age,
        )

    def preflight_response(self, request_headers: Headers) -> Response:
        if self.is_allowed_origin(request_headers["origin"]):
            return super().preflight_response(request_headers)
        return PlainTextResponse("Disallowed CORS origin", status_code=400, headers={"Vary": "Origin"})

    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        origin = request_headers.get("origin")
        if message["type"] != "http.response.start" or origin is None or self.is_allowed_origin(origin):
            await super().send(message, send, request_headers)
            return
        message.setdefault("headers", [])
        headers = MutableHeaders(scope=message)
        headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])
        await send(message)


def cors_layer(cors: CorsSettings) -> Middleware | None:
    """The CORS layer `Cors` asks for; None while `AllowedOrigins` is empty (CORS off: a preflight
    reaches the routes, which answer it 405 as any OPTIONS they do not take)."""
    if not cors.allowed_origins:
        return None
    return Middleware(
        OriginCorsMiddleware,
        allow_origins=cors.allowed_origins,
        allow_methods=cors.allowed_methods,
        allow_headers=cors.allowed_headers,
        expose_headers=cors.exposed_headers,
        allow_credentials=cors.allow_credentials,
        max_age=cors.max_age_seconds,
    )
