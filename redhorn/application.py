"""The Starlette application: routes, middleware, error handlers and the lifespan that builds State."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from importlib import metadata as package_metadata
from pathlib import Path

from starlette.applications import Starlette
from starlette.authentication import AuthenticationBackend
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from redhorn.auth.authenticator import Authenticator
from redhorn.auth.backends import TOKEN_PATH, ApiAuthenticationBackend, on_auth_error
from redhorn.auth.endpoint import issue_token
from redhorn.auth.throttle import LoginThrottle
from redhorn.auth.tokens import TokenService
from redhorn.auth.users import UserDirectory
from redhorn.catalog.cache import MetadataCache
from redhorn.catalog.crawler import crawl
from redhorn.catalog.dictionary import load_dictionary, overrides_file
from redhorn.endpoints import docs, health, odata, reads, service, writes
from redhorn.engines.connect import create_engine
from redhorn.errors import (
    ApiError,
    LicenceError,
    handle_api_error,
    handle_client_disconnect,
    handle_http_exception,
    handle_unexpected,
)
from redhorn.licensing.keeper import LicenceKeeper
from redhorn.licensing.licence import load_public_key
from redhorn.middleware.compression import CompressionMiddleware
from redhorn.middleware.cors import cors_layer
from redhorn.middleware.https import HttpsOnlyMiddleware
from redhorn.middleware.limits import RequestGuardMiddleware
from redhorn.odata.parser import QueryLimits
from redhorn.server.cluster import SharedState
from redhorn.server.keys import installation_key
from redhorn.server.metrics import METRICS_PATH, metrics_endpoint, watch_pools
from redhorn.server.observe import RequestObserver, ScopeCapture
from redhorn.server.redaction import install_redaction
from redhorn.settings import SETTINGS_ENV, Settings, load_settings, resolve_path
from redhorn.state import State
from redhorn.writers.executor import create_writer

logger = logging.getLogger("redhorn")


def _installed_version() -> str:
    """The version pyproject.toml gave the installed package; one source for the CLI, OpenAPI and health."""
    try:
        return package_metadata.version("redhorn")
    except package_metadata.PackageNotFoundError:  # imported from a source tree that was never installed
        return "0+unknown"


VERSION = _installed_version()

# Public paths that show more to a user who logs in: a company's own document, health details.
CREDENTIALS_OPTIONAL = frozenset({docs.SPEC_PATH, "/health", "/health/ready"})
# The signing key `redhorn serve` makes for its workers when the settings name none (hex).
SERVER_KEY_ENV = "REDHORN_SERVER_SIGNING_KEY"


def default_settings_file() -> Path:
    """`$REDHORN_SETTINGS`, else `config/appsettings.json` under the current directory."""
    return Path(os.environ.get(SETTINGS_ENV) or Path.cwd() / "config" / "appsettings.json").resolve()


def _route_by_method(path: str, **handlers: Callable[[Request], Awaitable[Response]]) -> Route:
    """One route for a path, dispatching on the method, so that a 405 lists every method the path takes.

    Starlette answers 405 from the first route whose path matches; with a route per method that was
    the GET route alone, and `Allow: GET, HEAD` on paths that also take writes.
    """

    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return Route(path, dispatch, methods=list(handlers))


def root_of(settings_file: Path) -> Path:
    """The application root for a settings file: the folder holding `config/`, as in the original."""
    folder = settings_file.resolve().parent
    return folder.parent if folder.name == "config" else folder


def signing_key(
    settings: Settings, environ: Mapping[str, str] = os.environ, settings_file: Path | None = None
) -> bytes:
    """`Tokens.SigningKey`; else the installation's key file beside `settings_file`; else the key
    `redhorn serve` made for its workers; else one for this process (see `redhorn.server.keys`).

    Without a shared key each worker would sign with its own, and a token or a nextLink from one
    worker would fail on the next request that another worker takes.
    """
    return installation_key(settings, settings_file, environ, SERVER_KEY_ENV)


def create_licence_keeper(settings: Settings, root: Path) -> LicenceKeeper:
    """The licence keeper for `ApiLicence`; unlicensed when `LicenceFilePath` is empty.

    A missing, unreadable or wrong `IssuerPublicKey` does not stop the server: it starts with the
    licence judged invalid, so every request is 503 `LicenceInvalid` naming the reason, and one
    warning says so; a settings file copied from the original product thus starts.
    """
    section = settings.api_licence
    if not section.licence_file_path:
        return LicenceKeeper(None, None, section)
    licence_path = resolve_path(section.licence_file_path, root)
    text = section.issuer_public_key.strip()
    try:
        if not text:
            raise LicenceError("ApiLicence.IssuerPublicKey is empty: nothing can verify the licence")
        pem = text.encode() if text.startswith("-----BEGIN") else resolve_path(text, root).read_bytes()
        public_key = load_public_key(pem)
    except (OSError, LicenceError) as exc:
        # A file from the original product names its own licence and no key: serve, refusing with the
        # reason, which the keeper logs once.
        reason = (
            f"ApiLicence.IssuerPublicKey: cannot read {text!r}: {exc.strerror}"
            if isinstance(exc, OSError)
            else str(exc)
        )
        return LicenceKeeper(licence_path, None, section, key_problem=reason)
    logger.info("Licence file: %s", section.licence_file_path)
    return LicenceKeeper(licence_path, public_key, section)


def derive_key(key: bytes, purpose: str) -> bytes:
    """A separate key per purpose, so that no token of one kind can pass for another."""
    return hmac.new(key, b"redhorn " + purpose.encode(), hashlib.sha256).digest()


def create_authenticator(settings: Settings, key: bytes) -> Authenticator:
    users = UserDirectory(settings, derive_key(key, "password fingerprint"))
    tokens = TokenService(derive_key(key, "access token"), settings.tokens.lifetime_seconds, users)
    return Authenticator(users, tokens, LoginThrottle(settings.authentication))


def middleware_stack(settings: Settings, backend: AuthenticationBackend) -> list[Middleware]:
    """The layers every request passes, outermost first.

    The request guard and the HTTPS check refuse what must not reach any other layer (their
    refusals are small and go out as written). Compression wraps everything the application
    answers after that, authentication errors included, so every layer inside it (endpoints,
    error handlers, the disconnect watcher, which reads only `receive`) works on the uncompressed
    answer and sets `Content-Length` and `ETag` for it; the compressor rewrites them on the way out.
    CORS sits inside the HTTPS check and outside compression and authentication, so that preflights
    need no credentials. The observer is outermost, so that refusals at the door are logged and
    counted too.
    """
    layers = [
        # Outermost: every answer, refusals at the door included, gets its id, timing, log line and count.
        Middleware(RequestObserver, metrics=settings.metrics.enabled),
        Middleware(
            RequestGuardMiddleware,
            max_query_string_bytes=settings.query.max_query_string_bytes,
            max_request_header_bytes=settings.server.max_request_header_bytes,
        ),
        Middleware(
            HttpsOnlyMiddleware,
            trusted_proxies=settings.server.trusted_proxies,
            public_base_url=settings.server.public_base_url,
        ),
        Middleware(ScopeCapture),  # the scope as the application sees it, for the access line
    ]
    # CORS inside the HTTPS check and outside authentication: a preflight carries no credentials.
    cors = cors_layer(settings.cors)
    if cors is not None:
        layers.append(cors)
    compression = settings.compression
    if compression.enabled:
        layers.append(
            Middleware(
                CompressionMiddleware,
                minimum_bytes=compression.minimum_bytes,
                gzip_level=compression.gzip_level,
                brotli_quality=compression.brotli_quality,
                zstd_level=compression.zstd_level,
            )
        )
    layers.append(Middleware(AuthenticationMiddleware, backend=backend, on_error=on_auth_error))
    return layers


def create_app(
    settings: Settings | None = None,
    *,
    settings_file: Path | None = None,
    root: Path | None = None,
    authentication: AuthenticationBackend | None = None,
) -> Starlette:
    """The redhorn ASGI application.

    Args:
        settings: settings already loaded (tests inject them); else read from `settings_file`.
        settings_file: the settings file; defaults to `$REDHORN_SETTINGS` or `config/appsettings.json`.
        root: the application's root, which `~` in settings paths means.
        authentication: replaces the Basic/Bearer backend (the benchmark's no-authentication baseline).
    """
    if settings is None:
        path = settings_file or default_settings_file()
        settings = load_settings(path)
        root = root or root_of(path)
        settings_file = path  # the signing key file lives beside it
    app_root = root or Path.cwd()
    loaded: Settings = settings
    for section in loaded.ignored_sections():
        logger.warning("Settings: %s is an ASP.NET section redhorn does not use; it is ignored", section)
    key = signing_key(loaded, settings_file=settings_file)
    authenticator = create_authenticator(loaded, key)
    install_redaction("uvicorn.access", "uvicorn.error", "redhorn")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine = create_engine(loaded, app_root)
        if loaded.metrics.enabled:
            watch_pools(engine)
        try:
            dictionary = load_dictionary(overrides_file(settings_file or default_settings_file()))
            metadata = MetadataCache(await crawl(engine, dictionary), engine, dictionary)
            query = loaded.query
            limits = QueryLimits(query.max_top, query.max_filter_length, query.max_filter_nodes)
            licence = create_licence_keeper(loaded, app_root)
            writer = create_writer(loaded, app_root, lambda name: metadata.current.databases[name])
            shared = SharedState(loaded, app_root)  # what the workers and hosts share (Cluster.RedisUrl)
            shared.attach(authenticator.throttle, licence)
            idempotency = shared.idempotency
            app.state.redhorn = State(
                loaded, app_root, engine, metadata, limits, derive_key(key, "skiptoken"), licence, writer, idempotency
            )
            loop = asyncio.get_running_loop()
            tasks = [loop.create_task(licence.run())] if licence.path else []
            if query.schema_check_seconds > 0:
                tasks.append(loop.create_task(metadata.run(query.schema_check_seconds)))
            shared.start(metadata)
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await licence.close()
                await writer.close()
                await shared.close()  # the idempotency records with it
        finally:
            await engine.close()

    routes = [
        Route("/health", service.health, methods=["GET"]),
        Route("/health/live", health.live, methods=["GET"]),
        Route("/health/ready", health.ready, methods=["GET"]),
        Route(METRICS_PATH, metrics_endpoint, methods=["GET"]),
        Route(docs.SPEC_PATH, docs.openapi_document, methods=["GET"]),
        Route("/swagger", docs.swagger_page, methods=["GET"]),
        Mount(docs.STATIC_PATH, app=docs.static_files(), name="swagger-static"),
        Route(TOKEN_PATH, issue_token, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
        Route("/api/{database}", service.list_resources, methods=["GET"]),
        _route_by_method("/api/{database}/{resource}", GET=reads.list_rows, POST=writes.create_rows),
        _route_by_method(
            "/api/{database}/{resource}/{key:path}",
            GET=reads.get_row,
            PUT=writes.update_row,
            PATCH=writes.update_row,
            DELETE=writes.delete_row,
        ),
        # The OData v4 service roots: every method reaches the handlers, which refuse writes themselves.
        Route("/odata/{database}", odata.service_document, methods=odata.METHODS),
        Route("/odata/{database}/", odata.service_document, methods=odata.METHODS),
        Route("/odata/{database}/$metadata", odata.metadata_document, methods=odata.METHODS),
        Route("/odata/{database}/{path:odata_path}", odata.resource, methods=odata.METHODS),
    ]
    handlers = {
        ApiError: handle_api_error,
        HTTPException: handle_http_exception,
        ClientDisconnect: handle_client_disconnect,
        Exception: handle_unexpected,
    }
    backend = authentication or ApiAuthenticationBackend(authenticator, also_paths=CREDENTIALS_OPTIONAL)
    middleware = middleware_stack(loaded, backend)
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=handlers, lifespan=lifespan)
    app.state.authenticator = authenticator
    app.state.documents = docs.DocumentCache(VERSION, max_expand_depth=settings.query.max_expand_depth)
    return app


def app_from_environment() -> Starlette:
    """The factory `redhorn serve` gives uvicorn, so every worker reads the same settings file."""
    return create_app()
