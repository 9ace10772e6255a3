"""Every error redhorn raises, in one tree, and the one place that turns them into responses.

    RedhornError
    ├── SettingsError            the settings file cannot be used (startup, `redhorn check`)
    │   ├── OverridesError       the site's dictionary overrides cannot be used
    │   └── WrapperLoadError     Visma's .NET wrapper assemblies cannot be loaded (`VbsWriter: wrapper`)
    ├── CertificateError         the TLS certificate and key cannot serve
    ├── CommandError             a mistake on the `redhorn` command line
    ├── LicenceError             a licence text is not acceptable (judged, then reported by status)
    ├── RenewalFailed            a licence renewal did not happen (logged, retried)
    └── ApiError                 answered to a client: `status` and a stable `code`
        ├── 400 InvalidQuery ─┬─ ODataError, QueryTooComplex
        │       InvalidKey, InvalidSkipToken, InvalidDeltaToken, TokenInQueryString, MalformedBody,
        │       BadRenewalRequest
        ├── 401 AuthenticationRequired ─┬─ InvalidCredentials, BasicAuthenticationNotAllowed
        │       InvalidToken
        ├── 403 CompanyAccessDenied, DatabaseAccessDenied, HttpsRequired, CompanyNotLicensed, NotRenewable
        ├── 404 CompanyNotFound, ResourceNotFound, RowNotFound, RouteNotFound
        ├── 405 MethodNotAllowed, ReadOnlyResource   406 NotAcceptable
        ├── 409 DuplicateKey, KeyImmutable, IdempotencyKeyInUse, IdempotencyOutcomeUnknown,
        │       NumberSeriesExhausted, NumberSeriesMissing
        ├── 410 ExpiredTooLong, DeltaTokenExpired   412 PreconditionFailed   413 BodyTooLarge
        ├── 414 QueryStringTooLong    415 UnsupportedMediaType      431 HeadersTooLarge
        ├── 422 UnknownProperty, InvalidValue, MissingValue, IdempotencyKeyReused
        ├── 429 TooManyFailedLogins   499 ClientDisconnected
        ├── 501 WritesNotConfigured   502 VbsFailed
        └── 503 DatabaseUnavailable, DatabaseBusy, ServerBusy, QueryTimeout, LicenceInvalid,
                WriterUnavailable ── WriteOutcomeUnknown

Clients branch on `code`; `message` is for people and may change. `retry_after` becomes the
`Retry-After` header. `writes_only` marks the errors only a write can meet, so that the OpenAPI
document lists each operation's answers from this tree. Anything that is not an `ApiError` is a
bug: it is logged with its cause and answered with a bare 500. Errors of libraries are turned
into these at the boundary that meets them, raised `from` the original.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from redhorn.encoding import ENCODER  # the process's one encoder; it imports only redhorn.metadata

logger = logging.getLogger("redhorn")


class RedhornError(Exception):
    """The root of every error redhorn raises on purpose."""


class ErrorDetail(msgspec.Struct, frozen=True, omit_defaults=True):
    code: str
    message: str
    target: str | None = None


class ErrorBody(msgspec.Struct, frozen=True):
    """The single JSON shape of every error: `{"error": {"code", "message", "target"?}}`."""

    error: ErrorDetail


class ApiError(RedhornError):
    """Root of all errors answered to clients; the HTTP layer renders it with `error_response`.

    Args:
        message: what went wrong, for a person, naming the bad value with `repr`.
        target: the query option, property or header the error is about, when there is one.
        headers: extra response headers (`WWW-Authenticate`, `Allow`).
        retry_after: seconds after which the request may succeed; the class's default when None.
    """

    status: int = 500
    code: str = "InternalError"
    retry_after: int | None = None
    writes_only: bool = False
    documented: bool = True  # listed among the API's answers in the OpenAPI document

    def __init__(
        self,
        message: str,
        *,
        target: str | None = None,
        headers: Mapping[str, str] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.target = target
        self.headers = dict(headers or {})
        if retry_after is not None:
            self.retry_after = retry_after

    def response_headers(self) -> dict[str, str]:
        """The headers of the answer: the error's own, and `Retry-After` when it has one."""
        if self.retry_after is None:
            return self.headers
        return {**self.headers, "Retry-After": str(self.retry_after)}

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

    retry_after = 60

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)


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
    """No company with this number (404)."""

    status = 404
    code = "CompanyNotFound"


class ResourceNotFound(ApiError):
    """The database has no table or view by this resource name (404)."""

    status = 404
    code = "ResourceNotFound"


class RowNotFound(ApiError):
    """No row has this key (404)."""

    status = 404
    code = "RowNotFound"


class RouteNotFound(ApiError):
    """No route answers this path (404)."""

    status = 404
    code = "NotFound"


class MethodNotAllowed(ApiError):
    """The path does not take this method; `Allow` lists those it takes (405)."""

    status = 405
    code = "MethodNotAllowed"


class ClientDisconnected(ApiError):
    """The client went away before the answer was ready; nobody reads this answer (499, as nginx logs it)."""

    status = 499
    code = "ClientClosedRequest"
    documented = False


class DatabaseUnavailable(ApiError):
    """The database could not be reached; the client should retry later (503)."""

    status = 503
    code = "DatabaseUnavailable"
    retry_after = 5


class DatabaseBusy(ApiError):
    """Every connection to the database stayed busy past `Query.PoolWaitSeconds` (503, with Retry-After)."""

    status = 503
    code = "DatabaseBusy"
    retry_after = 1


class ServerBusy(ApiError):
    """The worker holds `Server.MaxConnections` connections already (503, with Retry-After)."""

    status = 503
    code = "ServerBusy"
    retry_after = 1


class QueryTimeout(ApiError):
    """The statement ran past the configured time limit and was cancelled (503)."""

    status = 503
    code = "QueryTimeout"


class MalformedBody(ApiError):
    """The body is not JSON, or not of the shape the operation takes (400)."""

    status = 400
    code = "MalformedBody"
    writes_only = True


class NotAcceptable(ApiError):
    """`Accept` names no representation the resource has (406): a list is JSON, NDJSON or CSV."""

    status = 406
    code = "NotAcceptable"


class DeltaTokenExpired(ApiError):
    """A `$deltatoken` older than what the database still remembers of deletions (410); pull again in full."""

    status = 410
    code = "DeltaTokenExpired"


class InvalidDeltaToken(ApiError):
    """A `$deltatoken` this server did not make for this very query and user (400)."""

    status = 400
    code = "InvalidDeltaToken"


class UnsupportedMediaType(ApiError):
    """The body is not `application/json` (415)."""

    status = 415
    code = "UnsupportedMediaType"
    writes_only = True


class BodyTooLarge(ApiError):
    """The body is larger than `Writes.MaxBodyBytes` (413)."""

    status = 413
    code = "BodyTooLarge"
    writes_only = True


class UnknownProperty(ApiError):
    """The body names a property the resource does not have (422)."""

    status = 422
    code = "UnknownProperty"
    writes_only = True


class InvalidValue(ApiError):
    """A value does not fit its column: type, length, range or scale (422)."""

    status = 422
    code = "InvalidValue"
    writes_only = True


class MissingValue(ApiError):
    """A new row lacks a value it must have, such as a key no number series gives (422)."""

    status = 422
    code = "MissingValue"
    writes_only = True


class ReadOnlyResource(ApiError):
    """The resource cannot be written: a view, or a table of `vbsys` or `Catalog` (405)."""

    status = 405
    code = "ReadOnlyResource"
    writes_only = True


class DuplicateKey(ApiError):
    """A row with that key exists already (409)."""

    status = 409
    code = "DuplicateKey"
    writes_only = True


class KeyImmutable(ApiError):
    """The body gives a key value that differs from the row's: keys never change (409)."""

    status = 409
    code = "KeyImmutable"
    writes_only = True


class PreconditionFailed(ApiError):
    """`If-Match` names a version of the row that is no longer current (412)."""

    status = 412
    code = "PreconditionFailed"
    writes_only = True


class IdempotencyKeyReused(ApiError):
    """An `Idempotency-Key` seen before came with a different request (422)."""

    status = 422
    code = "IdempotencyKeyReused"
    writes_only = True


class IdempotencyKeyInUse(ApiError):
    """The first request with this `Idempotency-Key` is still being carried out (409)."""

    status = 409
    code = "IdempotencyKeyInUse"
    retry_after = 1
    writes_only = True


class IdempotencyOutcomeUnknown(ApiError):
    """The first request with this `Idempotency-Key` may or may not have been written, and redhorn
    cannot tell (the writer went away mid-write); an operator must look (409, see the README)."""

    status = 409
    code = "IdempotencyOutcomeUnknown"
    writes_only = True


class WriterUnavailable(ApiError):
    """The writer cannot be reached (VBS down or slow, the database locked too long) (503)."""

    status = 503
    code = "WriterUnavailable"
    writes_only = True
    retry_after = 5


class VbsFailed(ApiError):
    """Visma Business Services refused or failed the request; its messages are in the text (502)."""

    status = 502
    code = "VbsFailed"
    writes_only = True


class WriteOutcomeUnknown(WriterUnavailable):
    """The write was sent and no answer came (VBS went away or timed out mid-write): it may have been
    applied. 503 for this request; a keyed write's key is then held as outcome unknown."""


class LicenceInvalid(ApiError):
    """No valid licence: data paths answer 503 until a valid one is in place."""

    status = 503
    code = "LicenceInvalid"
    retry_after = 3600


class CompanyNotLicensed(ApiError):
    """The licence does not name this company (403)."""

    status = 403
    code = "CompanyNotLicensed"


class LicenceError(RedhornError):
    """Why a licence text is not acceptable; the message is safe to show and to log."""


class NumberSeriesExhausted(ApiError):
    """Every value of the interval has been assigned (409)."""

    status = 409
    code = "NumberSeriesExhausted"
    writes_only = True


class NumberSeriesMissing(ApiError):
    """No interval is configured for the column, neither the user's nor a default (409)."""

    status = 409
    code = "NumberSeriesMissing"
    writes_only = True


class WritesNotConfigured(ApiError):
    """No writer is configured: SQL Server without a `VbsEndpointAddress` (501)."""

    status = 501
    code = "WritesNotConfigured"
    writes_only = True


class ODataError(InvalidQuery):
    """A query option that cannot be parsed; answered as 400 `InvalidQuery`."""

    documented = False  # its code is InvalidQuery's


class NotRenewable(ApiError):
    """The licence service did not issue this licence, or revoked it (403); the service's answer."""

    documented = False
    status = 403
    code = "NotRenewable"


class ExpiredTooLong(ApiError):
    """The licence expired longer ago than the service renews (410). Answered by the licence service, not the API."""

    documented = False
    status = 410
    code = "ExpiredTooLong"


class BadRenewalRequest(ApiError):
    """A renewal request that is not a licence in JSON (400). Answered by the licence service, not the API."""

    documented = False
    status = 400
    code = "BadRequest"


class RenewalFailed(RedhornError):
    """Why a renewal did not happen; safe to log."""


class SettingsError(RedhornError):
    """The settings file cannot be used; the message names the key and the line."""


class OverridesError(SettingsError):
    """The site overrides file cannot be used; the message names the file, the key and the line."""


class WrapperLoadError(SettingsError):
    """Visma's .NET wrapper cannot serve: one line naming the folder, and the assembly, type or member
    missing from it (a wrapper of a version redhorn does not know). Stops startup."""


class CertificateError(RedhornError):
    """Why the certificate and key cannot serve TLS: one line naming the file at fault and what to do."""


class CommandError(RedhornError):
    """A mistake in the command line or in what it names; the message is one line saying what to do."""


def error_body(error: ApiError) -> bytes:
    """The JSON bytes for `error`, in the one shape every endpoint shares."""
    return ENCODER.encode(ErrorBody(ErrorDetail(error.code, error.message, error.target)))


def error_response(error: ApiError) -> Response:
    return Response(
        error_body(error), status_code=error.status, headers=error.response_headers(), media_type="application/json"
    )


def error_classes(root: type[ApiError] = ApiError) -> Iterator[type[ApiError]]:
    """Every class of the tree under `root`, depth first: what the OpenAPI document lists."""
    for child in root.__subclasses__():
        yield child
        yield from error_classes(child)


async def handle_api_error(request: Request, exc: Exception) -> Response:
    """An ApiError's answer; a 5xx one is logged with its cause, which the client never sees."""
    assert isinstance(exc, ApiError)
    if exc.status >= 500:
        cause = exc.__cause__ or exc.__context__
        logger.warning(
            "%s %s answered %d %s: %s%s",
            request.method,
            request.url.path,
            exc.status,
            exc.code,
            exc.message,
            f" (cause: {type(cause).__name__}: {cause})" if cause is not None else "",
        )
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
