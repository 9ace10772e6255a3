"""Starlette's authentication middleware, fed by redhorn's rules.

Only paths under `/api/` (except the token endpoint) and the OData roots under `/odata/` are
authenticated; `/health` and `/swagger` are public. A request without credentials passes through as
anonymous and the endpoint answers 401; bad credentials are answered here, before any endpoint
runs, with a JSON error.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.authentication import AuthCredentials, AuthenticationBackend, AuthenticationError
from starlette.requests import HTTPConnection
from starlette.responses import Response

from redhorn.auth.authenticator import Authenticator
from redhorn.auth.principal import Principal
from redhorn.errors import ApiError, AuthenticationRequired, InvalidCredentials, TokenInQueryString, error_response
from redhorn.middleware.https import route_path

TOKEN_PATH = "/api/oauth/token"
# The roots whose every path needs credentials: the REST API and the OData service beside it.
AUTHENTICATED_PREFIXES = ("/api/", "/odata/")
# Query parameters that carry credentials in other APIs; refused so they never reach a log.
CREDENTIAL_PARAMETERS = frozenset({"access_token", "token", "password", "apikey", "api_key"})


class Refused(AuthenticationError):
    """Carries the ApiError that `on_auth_error` renders."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


def _may_carry_credentials(query: bytes) -> bool:
    """A quick look at the raw query string, so that the usual request parses nothing here."""
    lowered = (unquote_to_bytes(query) if b"%" in query else query).lower()
    return b"token" in lowered or b"password" in lowered or b"key" in lowered


def client_address(connection: HTTPConnection) -> str:
    client = connection.client
    return client.host if client else ""


class ApiAuthenticationBackend(AuthenticationBackend):
    """Authenticates every `/api/` and `/odata/` path, and `also_paths` (public, with more for those who log in)."""

    def __init__(self, authenticator: Authenticator, also_paths: frozenset[str] = frozenset()) -> None:
        self.authenticator = authenticator
        self.also_paths = also_paths

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, Principal] | None:
        path = route_path(conn.scope["path"], conn.scope.get("root_path", ""))
        if not (path.startswith(AUTHENTICATED_PREFIXES) or path in self.also_paths) or path == TOKEN_PATH:
            return None
        query: bytes = conn.scope.get("query_string", b"")
        if (
            query
            and _may_carry_credentials(query)
            and any(name.lower() in CREDENTIAL_PARAMETERS for name in conn.query_params)
        ):
            raise Refused(
                TokenInQueryString("Credentials are not accepted in the query string; use the Authorization header")
            )
        header = conn.headers.get("authorization")
        if header is None:
            return None
        scheme, _, value = header.partition(" ")
        try:
            principal = await self._principal(scheme.lower(), value, conn)
        except ApiError as exc:
            raise Refused(exc) from None
        return AuthCredentials(["authenticated"]), principal

    async def _principal(self, scheme: str, value: str, conn: HTTPConnection) -> Principal:
        if scheme == "bearer":
            return self.authenticator.bearer(value)
        if scheme == "basic":
            return await self.authenticator.basic(value, client_address(conn))
        raise InvalidCredentials("Unsupported authorization scheme; use Basic or Bearer")


def on_auth_error(conn: HTTPConnection, exc: Exception) -> Response:
    error = exc.error if isinstance(exc, Refused) else AuthenticationRequired(str(exc))
    response = error_response(error)
    if route_path(conn.scope["path"], conn.scope.get("root_path", "")).startswith("/odata/"):
        response.headers["OData-Version"] = "4.0"  # OData clients read every answer of the service by it
    return response


def require_principal(conn: HTTPConnection) -> Principal:
    """The request's principal.

    Raises:
        AuthenticationRequired: the request carried no credentials.
    """
    user = conn.scope.get("user")
    if isinstance(user, Principal):
        return user
    raise AuthenticationRequired("Authentication is required: use Basic, or a Bearer token from /api/oauth/token")
