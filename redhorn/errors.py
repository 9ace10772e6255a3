"""The errors the API answers with, and the one place that turns them into responses.

Every failure a client can cause or meet is an `ApiError` subclass whose class attributes fix the
HTTP status and a stable `code`. Clients branch on `code`; `message` is for people and may change.
Anything that is not an `ApiError` is a bug: it is logged and answered with a bare 500.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

logger = logging.getLogger("redhorn")


class ErrorDetail(msgspec.Struct, frozen=True, omit_defaults=True):
    code: str
    message: str
    target: str | None = None


class ErrorBody(msgspec.Struct, frozen=True):
    """The single JSON shape of every error: `{"error": {"code", "message", "target"?}}`."""

    error: ErrorDetail


class ApiError(Exception):
    """Root of all errors answered to clients; the HTTP layer renders it with `error_response`.

    Args:
        message: what went wrong, for a person, naming the bad value with `repr`.
        target: the query option, property or header the error is about, when there is one.
        headers: extra response headers (`Retry-After`, `WWW-Authenticate`).
    """

    status: int = 500
    code: str = "InternalError"

    def __init__(self, message: str, *, target: str | None = None, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.target = target
        self.headers = dict(headers or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, message={self.message!r})"


class InvalidQuery(ApiError):
    """A query option is malformed or names something that does not exist (400)."""

    status = 400
    code = "InvalidQuery"

    def __init__(self, message: str, *, target: str | None = None, position: int | None = None) -> None:
        super().__init__(message, target=target)
        self.position = position


class QueryTooComplex(InvalidQuery):
    """The database refused the statement as too deeply nested or too large to parse (400)."""

    code = "QueryTooComplex"


class QueryStringTooLong(ApiError):
    """The query string is longer than `Query.MaxQueryStringBytes` (414)."""

    status = 414
    code = "QueryStringTooLong"


class HeadersTooLarge(ApiError):
    """The request's headers together are larger than `Server.MaxRequestHeaderBytes` (431)."""

    status = 431
    code = "RequestHeadersTooLarge"


class InvalidKey(ApiError):
    """The key segments of a path do not fit the resource's primary key (400)."""

    status = 400
    code = "InvalidKey"


class InvalidSkipToken(ApiError):
    """A `$skiptoken` that was not made by this server for this very query (400)."""

    status = 400
    code = "InvalidSkipToken"


CHALLENGES = 'Basic realm="redhorn", charset="UTF-8", Bearer realm="redhorn"'


class AuthenticationRequired(ApiError):
    """No credentials on a path that needs them (401, with Basic and Bearer challenges)."""

    status = 401
    code = "AuthenticationRequired"

    def __init__(self, message: str, *, target: str | None = None) -> None:
        super().__init__(message, target=target, headers={"WWW-Authenticate": CHALLENGES})


class InvalidCredentials(AuthenticationRequired):
    """A wrong username or password; which of the two is never said (401)."""

    code = "InvalidCredentials"


class BasicAuthenticationNotAllowed(AuthenticationRequired):
    """The user may not use Basic authentication (`AllowBasicAuthentication` false); a token works (401)."""

    code = "BasicAuthenticationNotAllowed"


class InvalidToken(ApiError):
    """A bearer token that is malformed, altered, expired, or whose user or password changed (401)."""

    status = 401
    code = "InvalidToken"

    def __init__(self, message: str) -> None:
        challenge = f'Bearer realm="redhorn", error="invalid_token", error_description="{message}"'
        super().__init__(message, headers={"WWW-Authenticate": challenge})


class TokenInQueryString(ApiError):
    """A credential in the query string, where logs and proxies would keep it (400)."""

    status = 400
    code = "TokenInQueryString"


class TooManyFailedLogins(ApiError):
    """Too many failed logins for this username and address; retry after `Retry-After` seconds (429)."""

    status = 429
    code = "TooManyFailedLogins"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class CompanyAccessDenied(ApiError):
    """The user may not reach this company, or it does not exist and the user may not know that (403)."""

    status = 403
    code = "CompanyAccessDenied"


class DatabaseAccessDenied(ApiError):
    """The user may not reach `vbsys` (`AllowAccessToSysDb`) or `Catalog` (`AllowAccessToCatalogDb`) (403)."""

    status = 403
    code = "DatabaseAccessDenied"


class HttpsRequired(ApiError):
    """A plain-HTTP request that did not come through a trusted TLS proxy (403)."""

    status = 403
    code = "HttpsRequired"


class CompanyNotFound(ApiError):
    status = 404
    code = "CompanyNotFound"


class ResourceNotFound(ApiError):
    status = 404
    code = "ResourceNotFound"


class RowNotFound(ApiError):
    status = 404
    code = "RowNotFound"


class RouteNotFound(ApiError):
    status = 404
    code = "NotFound"


class MethodNotAllowed(ApiError):
    status = 405
    code = "MethodNotAllowed"


class ClientDisconnected(ApiError):
    """The client went away before the answer was ready; nobody reads this answer (499, as nginx logs it)."""

    status = 499
    code = "ClientClosedRequest"


class DatabaseUnavailable(ApiError):
    """The database could not be reached; the client should retry later (503)."""

    status = 503
    code = "DatabaseUnavailable"

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


class DatabaseBusy(ApiError):
    """Every connection to the database stayed busy past `Query.PoolWaitSeconds` (503, with Retry-After)."""

    status = 503
    code = "DatabaseBusy"


class ServerBusy(ApiError):
    """The worker holds `Server.MaxConnections` connections already (503, with Retry-After)."""

    status = 503
    code = "ServerBusy"


class QueryTimeout(ApiError):
    """The statement ran past the configured time limit and was cancelled (503)."""

    status = 503
    code = "QueryTimeout"


_encoder = msgspec.json.Encoder()


def error_body(error: ApiError) -> bytes:
    """The JSON bytes for `error`, in the one shape every endpoint shares."""
    return _encoder.encode(ErrorBody(ErrorDetail(error.code, error.message, error.target)))


def error_response(error: ApiError) -> Response:
    return Response(error_body(error), status_code=error.status, headers=error.headers, media_type="application/json")


async def handle_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (unknown route, wrong method) in our JSON shape."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        allow = (exc.headers or {}).get("Allow", "")
        error: ApiError = MethodNotAllowed(
            f"Method {request.method!r} is not allowed here", headers={"Allow": allow} if allow else None
        )
    elif exc.status_code == 404:
        error = RouteNotFound(f"No route for {request.url.path!r}")
    else:
        error = ApiError(str(exc.detail))
        error.status = exc.status_code
        error.code = "HttpError"
    return error_response(error)


async def handle_client_disconnect(request: Request, exc: Exception) -> Response:
    """A client that left while sending its body: one line in the log, no traceback; no one reads the answer."""
    logger.info("The client left %s %s before sending its whole body", request.method, request.url.path)
    return error_response(ClientDisconnected("The client closed the connection before sending its whole body"))


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    """Anything that is not an ApiError: logged with its traceback, answered with no detail."""
    logger.exception("Unhandled error on %s %s", request.method, request.url.path)
    return error_response(ApiError("The server failed to answer this request"))
