"""Requests refused at the door, in the JSON error shape, before any other layer reads them.

- A query string longer than `Query.MaxQueryStringBytes` is 414: every option parser after this
  works on bounded text, so no request can buy unbounded work on the event loop.
- Headers whose names and values together pass `Server.MaxRequestHeaderBytes` are 431.
- A query string whose bytes are not UTF-8 is 400: HTTP servers hand it over as raw bytes, and a
  sequence that is not UTF-8 would otherwise fail deep inside URL handling.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from redhorn.errors import ApiError, HeadersTooLarge, InvalidQuery, QueryStringTooLong, error_body


def header_number(text: str, max_digits: int) -> int | None:
    """A header's number when it is plain ASCII digits, at most `max_digits` of them; else None.

    `str.isdigit` also passes `²` and `١`, which `int` then refuses or reads as another number.
    """
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or len(value) > max_digits:
        return None
    return int(value)


class RequestGuardMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_query_string_bytes: int,
        max_request_header_bytes: int,
    ) -> None:
        self.app = app
        self.max_query_string_bytes = max_query_string_bytes
        self.max_request_header_bytes = max_request_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self._refusal(scope)
            if refusal is not None:
                await _refuse(send, refusal)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> ApiError | None:
        query: bytes = scope["query_string"]
        if len(query) > self.max_query_string_bytes:
            return QueryStringTooLong(
                f"The query string is longer than {self.max_query_string_bytes} bytes", target="query"
            )
        if sum(len(name) + len(value) for name, value in scope["headers"]) > self.max_request_header_bytes:
            return HeadersTooLarge(f"The request's headers are larger than {self.max_request_header_bytes} bytes")
        try:
            query.decode("utf-8")
        except UnicodeDecodeError:
            return InvalidQuery("The query string is not valid UTF-8", target="query")
        return None


async def _refuse(send: Send, error: ApiError) -> None:
    body = error_body(error)
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
