"""Answers compressed with zstd, brotli or gzip, as the client's `Accept-Encoding` allows.

starlette-compress negotiates and encodes: the codings a client accepts with a positive q-value are
eligible, and the server's preference picks among them (zstd, then brotli, then gzip), whatever
their relative q-values; a client that accepts none gets the answer as it is (never 406). A
one-shot body under `Compression.MinimumBytes` goes out unchanged; a 304, a 204, an answer the
application encoded itself (the OpenAPI document) and a content type that does not compress are
left alone. Streamed exports (`application/x-ndjson`, `text/csv`) are encoded as they are written:
the headers go out at once and every body message is flushed through the encoder, so the client
gets each batch of rows as soon as it is read, and nothing is held in memory beyond the encoder's
own window. A stream should therefore send one message per batch of rows, not one per row: every
flush ends a compressed block, which costs bytes and time.

Entity tags. A compressed answer is another representation of the resource (RFC 9110 8.8.3), so a
strong `ETag` the application set is made weak on it (`W/"..."`), as Django and nginx do: the same
tag then still names the same row version. `If-Match` on a write accepts the weak form too (the
tag names the row's values, which the write checks in its own transaction), so a client sends
back whichever form its GET gave it. A 304 names the tag in the form the client's
`If-None-Match` holds it, so a cache that stored the compressed answer recognises it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette_compress import CompressMiddleware, add_compress_type

# Streamed answers: headers at once, each body message flushed through the encoder.
STREAMED_TYPES = ("application/x-ndjson", "text/csv")
# The scope key where a request's answer notes whether the application encoded it itself.
_MARK = "redhorn.compression"


def register_streamed_types() -> None:
    """Register the streamed exports' types with starlette-compress, which compresses only types it knows."""
    for media_type in STREAMED_TYPES:
        add_compress_type(media_type, streaming=True)


class _Answer:
    """What the application's own start message said, for the layer that sends it on."""

    __slots__ = ("encoded_by_app",)

    def __init__(self) -> None:
        self.encoded_by_app = False


class CompressionMiddleware:
    """Content coding by `Accept-Encoding`, with entity tags weakened on what it compresses."""

    def __init__(
        self, app: ASGIApp, *, minimum_bytes: int, gzip_level: int, brotli_quality: int, zstd_level: int
    ) -> None:
        register_streamed_types()
        self.app = app
        self.compress = CompressMiddleware(
            _NoteOwnEncoding(app),
            minimum_size=minimum_bytes,
            gzip_level=gzip_level,
            brotli_quality=brotli_quality,
            zstd_level=zstd_level,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        answer = _Answer()
        scope[_MARK] = answer

        async def send_tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                _adjust_headers(message, scope, answer)
            await send(message)

        await self.compress(scope, receive, send_tagged)


class _NoteOwnEncoding:
    """Notes, below the compressor, an answer that already has a `Content-Encoding` of its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer: _Answer | None = scope.get(_MARK)
        if answer is None:
            await self.app(scope, receive, send)
            return

        async def send_noted(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer.encoded_by_app = content_coding(message["headers"]) is not None
            await send(message)

        await self.app(scope, receive, send_noted)


def content_coding(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The `Content-Encoding` of an answer's raw headers, when it names one other than identity."""
    for name, value in headers:
        if name.lower() == b"content-encoding" and value.strip().lower() not in (b"", b"identity"):
            return value
    return None


def _adjust_headers(message: Message, scope: Scope, answer: _Answer) -> None:
    """Weaken a strong `ETag` on an answer this layer compressed (or a 304 the client knows weak); `Vary` once."""
    headers: list[tuple[bytes, bytes]] = message["headers"]
    for index, (name, value) in enumerate(headers):
        if name.lower() == b"vary":
            headers[index] = (name, _distinct_tokens(value))
        elif name.lower() == b"etag" and value.startswith(b'"') and _weakened(message, scope, answer, value):
            headers[index] = (name, b"W/" + value)


def _weakened(message: Message, scope: Scope, answer: _Answer, tag: bytes) -> bool:
    """Whether `tag` names another representation than the application's: one this layer encoded.

    An answer the application encoded itself keeps its tag, which that endpoint's own `If-None-Match`
    compares as it is.
    """
    if message.get("status", 200) == 304:
        return _client_holds_weak(scope, tag)
    return not answer.encoded_by_app and content_coding(message["headers"]) is not None


def _distinct_tokens(vary: bytes) -> bytes:
    """`Vary` with each field named once: an endpoint that names `Accept-Encoding` itself gets it again
    from starlette-compress otherwise."""
    seen: dict[bytes, bytes] = {}
    for token in vary.split(b","):
        token = token.strip()
        if token:
            seen.setdefault(token.lower(), token)
    return b", ".join(seen.values())


def _client_holds_weak(scope: Scope, tag: bytes) -> bool:
    """Whether the request's `If-None-Match` lists the weak form of `tag` and not the strong one."""
    listed = [
        part.strip() for name, value in scope["headers"] if name == b"if-none-match" for part in value.split(b",")
    ]
    return b"W/" + tag in listed and tag not in listed
