"""uvicorn's HTTP protocol with the limits it lacks: deadlines for headers and bodies, and a connection cap.

uvicorn times out idle keep-alive connections but not a request whose headers never finish: a
slowloris client holding thousands of such connections reached the file-descriptor limit, and every
new client was refused. This protocol (httptools, as uvicorn's own default) closes a connection
whose request headers are not complete `Server.RequestHeaderTimeoutSeconds` after it opened, or
after its previous response, or whose body is not complete `Server.RequestBodyTimeoutSeconds`
after its headers (a body trickled a byte at a time held a connection for ever), and answers a
connection past `Server.MaxConnections` (per worker) with a 503 in the JSON error shape before
closing it. A server with a header timeout of its own
(hypercorn, granian) would do the first, but not the second, and would replace the stack that the
rest of redhorn is measured on; extending the protocol keeps both.

The limits come from the settings file every worker reads (`REDHORN_SETTINGS`, set by `redhorn
serve`). The TLS handshake happens before a connection reaches this protocol; asyncio bounds it
(60 s by default).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import gc
import os
import sys
from collections.abc import Callable
from pathlib import Path

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from redhorn.errors import ServerBusy, SettingsError, error_body
from redhorn.settings import SETTINGS_ENV, ServerSettings, load_settings


@functools.cache
def server_limits() -> ServerSettings:
    """The `Server` section of the settings this worker serves (defaults when there is no file)."""
    path = os.environ.get(SETTINGS_ENV)
    if not path:
        return ServerSettings()
    try:
        return load_settings(Path(path)).server
    except SettingsError:  # the app reports the file's problem when it loads it
        return ServerSettings()


def _refusal() -> bytes:
    body = error_body(ServerBusy("The server has as many connections as it takes; try again shortly"))
    head = (
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        f"retry-after: {ServerBusy.retry_after}\r\nconnection: close\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


class _MemoryReturn:
    """Gives memory freed by many closed connections back to the system.

    Each TLS connection costs OpenSSL and asyncio some 30 KB; after thousands closed, part of it
    waits in reference cycles for the garbage collector's oldest generation, and glibc keeps the
    freed pages for reuse, so a server that was attacked once would stay twice its size. Once the
    connections have fallen to a quarter of a peak of several hundred, a moment later (so that a
    wave of closes is handled once) the cycles are collected and, on glibc, `malloc_trim` returns
    the pages; elsewhere only the collection runs.
    """

    def __init__(self) -> None:
        self.peak = 0
        self.scheduled = False
        self._trim = _malloc_trim()

    def opened(self, count: int) -> None:
        self.peak = max(self.peak, count)

    def closed(self, count: int, loop: asyncio.AbstractEventLoop) -> None:
        if self.scheduled or self.peak < 256 or count > self.peak // 4:
            return
        self.scheduled = True
        loop.call_later(0.5, self._release, count)

    def _release(self, count: int) -> None:
        self.scheduled, self.peak = False, count
        gc.collect()
        if self._trim is not None:
            self._trim(0)


def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


_memory = _MemoryReturn()


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol plus a header deadline and a connection cap (see the module's docstring)."""

    _header_deadline: asyncio.TimerHandle | None = None
    _refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        limits = server_limits()
        if len(self.connections) >= limits.max_connections:
            self._refused = True
            self.transport = transport
            transport.write(_refusal())
            transport.close()
            return
        super().connection_made(transport)
        _memory.opened(len(self.connections))
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        if not self._refused:
            super().connection_lost(exc)
            _memory.closed(len(self.connections), self.loop)

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_deadline is None:  # the next request on a kept-alive connection
            self._arm_header_deadline()

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        super().on_headers_complete()
        if self.transport.is_closing():
            return
        if self.parser.get_method() not in (b"GET", b"HEAD", b"DELETE", b"OPTIONS") or any(
            name in (b"content-length", b"transfer-encoding") for name, _ in self.headers
        ):
            self._header_deadline = self.loop.call_later(  # now the body's deadline
                server_limits().request_body_timeout_seconds, self._too_slow
            )

    def on_message_complete(self) -> None:
        self._disarm_header_deadline()
        super().on_message_complete()

    def _arm_header_deadline(self) -> None:
        self._header_deadline = self.loop.call_later(server_limits().request_header_timeout_seconds, self._too_slow)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()
