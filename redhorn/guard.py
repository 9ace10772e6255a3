"""Requests whose bytes cannot be read as text are refused at the door, in the JSON error shape.

HTTP servers hand over the query string as raw bytes; a byte sequence that is not UTF-8 would
otherwise fail deep inside URL handling. One check here keeps every later layer on valid text.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from redhorn.errors import InvalidQuery, error_body


class RequestGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                scope["query_string"].decode("utf-8")
            except UnicodeDecodeError:
                await self._refuse(send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(send: Send) -> None:
        body = error_body(InvalidQuery("The query string is not valid UTF-8", target="query"))
        await send(
            {
                "type": "http.response.start",
                "status": InvalidQuery.status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
