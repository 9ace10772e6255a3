"""Each request's id, timings, access line and metrics: the outermost layer of the application.

`RequestObserver` wraps everything else, so that a request refused at the door (414, 431, plain
HTTP) is timed, counted and logged like any other. It

- takes the request's id from `X-Request-ID` when that is a sane token (1-128 of `A-Za-z0-9._-`),
  else makes one (a uuid4's hex), keeps it in a context variable for every line logged while the
  request is answered, and returns it as `X-Request-ID` on every answer;
- adds `Server-Timing: db;dur=<ms>, total;dur=<ms>` to every answer: the time this request's
  statements held a database connection (the engines' pools add it up in a context variable) and
  the time since the request arrived. A streamed export says what was known when its headers went
  out: the first batch's query, not the whole export's;
- writes one access line (logger `redhorn.access`) when the answer is complete: method, path
  (credential-like query parameters blanked, `$skiptoken`/`$deltatoken` cut to their first
  characters), status, duration, user, company, client; never a header;
- counts the request for `/metrics` under its route's template (see `redhorn.server.metrics`).

Authentication, routing and a trusted proxy's adjustments happen further in, some on a copy of
the request's scope; `ScopeCapture`, placed right inside the HTTPS check, hands that scope back
so the user, route and company are read from the scope the application saw.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from redhorn.auth.principal import Principal
from redhorn.engines.pool import database_seconds
from redhorn.metadata import Metadata
from redhorn.server.logs import ACCESS_LOGGER, FIELDS, request_id
from redhorn.server.metrics import RequestMeter, company_label, worker_stopped
from redhorn.server.redaction import redact

REQUEST_ID_HEADER = b"x-request-id"
_SANE_ID = re.compile(rb"[A-Za-z0-9._-]{1,128}")
# A `$skiptoken` or `$deltatoken` value is logged cut to this many characters: enough to tell two
# apart, while a log line stays short and holds none of the keys the token encodes.
TOKEN_CHARACTERS_LOGGED = 8
_PAGE_TOKEN = re.compile(rf"((?:\$|%24)(?:skip|delta)token=)([^&\s]{{{TOKEN_CHARACTERS_LOGGED}}})[^&\s]+", re.I)
# The key in the request's scope where its record waits for `ScopeCapture`.
_RECORD = "redhorn.observed"
UNMATCHED = "unmatched"

# The access log is written where `redhorn serve` sends it (`redhorn.server.logs.log_config` gives
# it a handler of its own), never into the log of an application that embeds redhorn and has not
# asked for it by giving `redhorn.access` a handler.
_access = logging.getLogger(ACCESS_LOGGER)


def incoming_request_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The client's `X-Request-ID` when it is a sane token; None when absent or not."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            return value.decode("ascii") if _SANE_ID.fullmatch(value) else None
    return None


def logged_path(scope: Scope) -> str:
    """The request's path and query as sent, safe for a log line (see the module's docstring)."""
    raw: bytes | None = scope.get("raw_path")
    path = raw.decode("latin-1") if raw is not None else scope["path"]
    query: bytes = scope.get("query_string", b"")
    if query:
        text = query.decode("latin-1")
        if "token=" in text.lower():
            text = _PAGE_TOKEN.sub(r"\1\2...", text)
        path = f"{path}?{text}"
    return redact(path)


def route_template(scope: Scope) -> str:
    """The template of the route that answered (`/api/{database}/{resource}`); the first that would
    have, for a request refused before routing; `unmatched` when none would."""
    route = scope.get("route")
    if route is not None:
        return str(getattr(route, "path", UNMATCHED))
    app = scope.get("app")
    partial = UNMATCHED
    for candidate in getattr(app, "routes", ()):
        match, _ = candidate.matches(scope)
        if match is Match.FULL:
            return str(candidate.path)
        if match is Match.PARTIAL and partial == UNMATCHED:
            partial = str(candidate.path)
    return partial


def _metadata(scope: Scope) -> Metadata | None:
    app = scope.get("app")
    state = getattr(getattr(app, "state", None), "redhorn", None) if app is not None else None
    return state.metadata if state is not None else None


class _Record:
    __slots__ = ("scope", "status")

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.status = 0


class RequestObserver:
    """See the module's docstring. `metrics`: count requests for `/metrics` (`Metrics.Enabled`)."""

    def __init__(self, app: ASGIApp, *, metrics: bool = True) -> None:
        self.app = app
        self.meter = RequestMeter() if metrics else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, _lifespan_watcher(send) if scope["type"] == "lifespan" else send)
            return
        started = time.perf_counter()
        current = incoming_request_id(scope["headers"]) or uuid.uuid4().hex
        id_header = (REQUEST_ID_HEADER, current.encode("ascii"))
        spent = [0.0]
        id_reset = request_id.set(current)
        spent_reset = database_seconds.set(spent)
        record = _Record(scope)
        scope[_RECORD] = record

        async def observed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
                total = (time.perf_counter() - started) * 1000
                timing = f"db;dur={spent[0] * 1000:.2f}, total;dur={total:.2f}".encode("ascii")
                message = {**message, "headers": [*message.get("headers", ()), id_header, (b"server-timing", timing)]}
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            self._finish(scope, record, time.perf_counter() - started)
            database_seconds.reset(spent_reset)
            request_id.reset(id_reset)

    def _finish(self, outer: Scope, record: _Record, seconds: float) -> None:
        """Count and log the request; 499 when it ended without an answer (the client left)."""
        scope = record.scope
        status = record.status or 499
        params: dict[str, Any] | None = scope.get("path_params")
        segment = params.get("database") if params else None
        if self.meter is not None:
            company = company_label(segment, _metadata(scope))
            self.meter.record(route_template(scope), outer["method"], status, company, seconds)
        if _access.handlers and _access.isEnabledFor(logging.INFO):
            user = scope.get("user")
            method, path = outer["method"], logged_path(outer)
            client = outer.get("client")
            fields = {
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "user": user.username if isinstance(user, Principal) else None,
                "company": segment,
                "client": client[0] if client else None,
            }
            _access.info("%s %s %d", method, path, status, extra={FIELDS: fields})


def _lifespan_watcher(send: Send) -> Send:
    """`send` that notes the worker's shutdown for the metrics of live workers."""

    async def watched(message: Message) -> None:
        if message["type"] == "lifespan.shutdown.complete":
            worker_stopped()
        await send(message)

    return watched


class ScopeCapture:
    """Hands the scope the application sees back to `RequestObserver` (see the module's docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        record = scope.get(_RECORD)
        if record is not None:
            record.scope = scope
        await self.app(scope, receive, send)
