"""`POST /api/oauth/token`: the OAuth 2.0 resource-owner password grant (RFC 6749 §4.3).

Errors take RFC 6749's own shape (§5.2), `{"error": "invalid_grant", "error_description": ...}`,
built with authlib's error classes, because OAuth clients parse exactly that. Every answer carries
`Cache-Control: no-store`. Throttling answers 429 with `Retry-After` in the same shape.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import parse_qsl

import msgspec
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidRequestError,
    OAuth2Error,
    UnsupportedGrantTypeError,
)
from starlette.requests import Request
from starlette.responses import Response

from redhorn.auth.authenticator import Authenticator
from redhorn.auth.backends import client_address
from redhorn.encoding import ENCODER
from redhorn.errors import InvalidCredentials, MethodNotAllowed, TooManyFailedLogins
from redhorn.middleware.limits import header_number

MAX_BODY_BYTES = 16 * 1024
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
FORM = "application/x-www-form-urlencoded"


class TokenResponse(msgspec.Struct, frozen=True):
    """The token answer, named as RFC 6749 §5.1 names its members."""

    access_token: str
    expires_in: int
    token_type: str = "bearer"


class OAuthErrorBody(msgspec.Struct, frozen=True, omit_defaults=True):
    """An OAuth error, in RFC 6749 §5.2's shape: `{"error", "error_description"?, "error_uri"?, "state"?}`."""

    error: Literal["invalid_request", "invalid_grant", "unsupported_grant_type"]
    error_description: str | msgspec.UnsetType = msgspec.UNSET
    error_uri: str | msgspec.UnsetType = msgspec.UNSET
    state: str | msgspec.UnsetType = msgspec.UNSET


def oauth_error(error: OAuth2Error, *, status: int | None = None, headers: dict[str, str] | None = None) -> Response:
    """The answer for authlib's `error`: its RFC 6749 body, its status unless `status`, and no-store."""
    body = ENCODER.encode(
        OAuthErrorBody(
            error.error,
            error.description or msgspec.UNSET,
            error.uri or msgspec.UNSET,
            error.state or msgspec.UNSET,
        )
    )
    return Response(
        body,
        status_code=status or error.status_code,
        headers={**NO_STORE, **(headers or {})},
        media_type="application/json",
    )


async def _read_form(request: Request) -> dict[str, str] | OAuth2Error:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM:
        return InvalidRequestError(description=f"The body must be {FORM}")
    length = header_number(request.headers.get("content-length", ""), 18)
    if length is not None and length > MAX_BODY_BYTES:
        return InvalidRequestError(description="The request body is too large")  # before waiting for it
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return InvalidRequestError(description="The request body is too large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        return InvalidRequestError(description="The body is not a valid form")
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            # RFC 6749 allows only printable ASCII in descriptions, so the name is not echoed.
            return InvalidRequestError(description="A parameter is given more than once")
        form[name] = value
    return form


async def issue_token(request: Request) -> Response:
    """Exchange a username and password for an access token.

    Routed for every method so that other methods get 405 here rather than matching the
    `/api/{companyNo}/{resource}` route.
    """
    if request.method != "POST":
        raise MethodNotAllowed(f"Method {request.method!r} is not allowed here", headers={"Allow": "POST"})
    authenticator: Authenticator = request.app.state.authenticator
    if request.url.query:
        return oauth_error(InvalidRequestError(description="Send the parameters in the body, not the query string"))
    form = await _read_form(request)
    if isinstance(form, OAuth2Error):
        return oauth_error(form)
    grant_type = form.get("grant_type")
    if not grant_type:
        return oauth_error(InvalidRequestError(description="Missing 'grant_type'"))
    if grant_type != "password":
        unsupported = UnsupportedGrantTypeError(grant_type)
        unsupported.description = "Only grant_type=password is supported"
        return oauth_error(unsupported)
    missing = [name for name in ("username", "password") if not form.get(name)]
    if missing:
        return oauth_error(InvalidRequestError(description=f"Missing {' and '.join(repr(m) for m in missing)}"))
    try:
        principal = await authenticator.login(form["username"], form["password"], client_address(request))
    except TooManyFailedLogins as exc:
        error = InvalidGrantError(description=exc.message)
        return oauth_error(error, status=429, headers={"Retry-After": str(exc.retry_after)})
    except InvalidCredentials:
        return oauth_error(InvalidGrantError(description="The username or password is wrong"))
    token = authenticator.tokens.issue(principal)
    body = ENCODER.encode(TokenResponse(token, authenticator.tokens.lifetime_seconds))
    return Response(body, headers=NO_STORE, media_type="application/json")
