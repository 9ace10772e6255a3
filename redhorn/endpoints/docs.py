"""`/swagger/v1/swagger.json` and `/swagger`: the OpenAPI document and Swagger UI, served locally.

The document of a company is built on first request, then kept (as JSON and gzip bytes, with an
ETag) until the metadata changes; `If-None-Match` is answered with 304. Swagger UI's files come
from the `swagger-ui-py` package installed with redhorn, never from a CDN.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import swagger_ui
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from redhorn.auth.principal import Principal
from redhorn.encoding import encode
from redhorn.endpoints._common import accepts_gzip
from redhorn.errors import AuthenticationRequired, CompanyNotFound, InvalidQuery
from redhorn.metadata import Metadata
from redhorn.openapi.document import build_openapi
from redhorn.query.resolve import resolve_database
from redhorn.settings import ApiUser
from redhorn.state import State

SPEC_PATH = "/swagger/v1/swagger.json"
STATIC_PATH = "/swagger/static"
SWAGGER_UI_FILES = Path(swagger_ui.__file__).parent / "static"


@dataclass(frozen=True)
class Document:
    json: bytes
    gzipped: bytes
    etag: str


class DocumentCache:
    """Documents per company, for the metadata they were built from."""

    def __init__(self, version: str, *, max_expand_depth: int = 2) -> None:
        self.version = version
        self.max_expand_depth = max_expand_depth
        self._documents: dict[tuple[int, bool, str], tuple[Metadata, Document]] = {}

    def document(self, metadata: Metadata, company: int, *, standard_only: bool = False, prefix: str = "") -> Document:
        """The document of `company`; `prefix` is the path the API is mounted at (`Server.PublicBaseUrl`)."""
        cached = self._documents.get((company, standard_only, prefix))
        if cached is not None and cached[0] is metadata:
            return cached[1]
        built = build_openapi(
            metadata,
            company,
            version=self.version,
            standard_only=standard_only,
            server_url=prefix or "/",
            max_expand_depth=self.max_expand_depth,
        )
        body = encode(built)
        document = Document(body, gzip.compress(body, 6), '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
        self._documents[(company, standard_only, prefix)] = (metadata, document)
        return document


def _available(metadata: Metadata, company: int) -> bool:
    return company in metadata.companies and metadata.companies[company].database in metadata.databases


def _companies_in_order(user: ApiUser, metadata: Metadata) -> list[int]:
    """The available companies of `user`, in the order its `AccessibleCompanies` lists them."""
    listed = dict.fromkeys(company.company_no for company in user.accessible_companies)
    return [number for number in listed if _available(metadata, number)]


def default_company(metadata: Metadata, users: Sequence[ApiUser] = ()) -> int:
    """The company the public document describes, and its `companyNo` example: the company most
    users mean.

    That is the company the most `ApiUsers` list first (of those available), then the one the most
    list at all, then the one with the most tables, then the lowest number: the demo's 9999, not
    company 1, which has as many tables.
    """
    crawled = [c for c in metadata.companies.values() if c.database in metadata.databases]
    if not crawled:
        raise CompanyNotFound("No company database is available to describe")
    first: Counter[int] = Counter()
    listed: Counter[int] = Counter()
    for user in users:
        companies = _companies_in_order(user, metadata)
        first.update(companies[:1])
        listed.update(companies)
    best = max(
        crawled,
        key=lambda c: (first[c.number], listed[c.number], len(metadata.databases[c.database].tables), -c.number),
    )
    return best.number


def _company_of(metadata: Metadata, principal: Principal, users: Sequence[ApiUser]) -> int | None:
    """The first company `principal` may read that is available, in the order its settings list them."""
    for user in users:
        if user.username == principal.username:
            companies = [n for n in _companies_in_order(user, metadata) if principal.can_see_company(n)]
            return companies[0] if companies else None
    available = [n for n in sorted(principal.companies) if _available(metadata, n)]
    return available[0] if available else None


async def openapi_document(request: Request) -> Response:
    """GET /swagger/v1/swagger.json[?company=N]: the OpenAPI 3.1 document.

    Without credentials: Visma's standard tables only, public like the original's, naming no
    company's extensions. With them: the user's first company's own document, or company N's
    under the same access rules as its data (403 for a company the user does not list).
    """
    state: State = request.app.state.redhorn
    cache: DocumentCache = request.app.state.documents
    metadata = state.metadata
    principal = request.user if isinstance(request.user, Principal) else None
    requested = request.query_params.get("company")
    standard_only = False
    if requested is not None:
        if principal is None:
            raise AuthenticationRequired("A company's own document needs credentials with access to the company")
        if not (requested.isascii() and requested.isdigit() and len(requested) <= 9):
            raise InvalidQuery(f"company must be a company number, not {requested!r}", target="company")
        resolve_database(metadata, requested, principal)  # 403, 404 or 503 as for the company's data
        company = int(requested)
    else:
        users = state.settings.api_users
        own = _company_of(metadata, principal, users) if principal is not None else None
        company = own if own is not None else default_company(metadata, users)
        standard_only = own is None
    prefix: str = request.scope.get("root_path", "")
    document = cache.document(metadata, company, standard_only=standard_only, prefix=prefix)
    headers = {"ETag": document.etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if document.etag in [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    if accepts_gzip(request.headers.get("accept-encoding")):
        return Response(
            document.gzipped, media_type="application/json", headers={**headers, "Content-Encoding": "gzip"}
        )
    return Response(document.json, media_type="application/json", headers=headers)


PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>redhorn API</title>
  <link rel="stylesheet" href="{static}/swagger-ui.css">
  <link rel="icon" type="image/png" href="{static}/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{static}/swagger-ui-bundle.js"></script>
  <script src="{static}/swagger-ui-standalone-preset.js"></script>
  <script>
    const config = {config};
    config.presets = [SwaggerUIBundle.presets.apis];
    window.ui = SwaggerUIBundle(config);
  </script>
</body>
</html>
"""


async def swagger_page(request: Request) -> Response:
    """GET /swagger: Swagger UI for the public document, with Authorize (Basic, Bearer, password flow).

    The browser fetches the document before anyone has authorized, so the page shows the public
    document (Visma's standard tables); a company's extensions are in its own document, which
    needs credentials.
    """
    prefix: str = request.scope.get("root_path", "")  # behind Server.PublicBaseUrl's path prefix
    config = {
        "url": prefix + SPEC_PATH,
        "dom_id": "#swagger-ui",
        "deepLinking": True,
        "docExpansion": "none",
        "defaultModelsExpandDepth": -1,  # hundreds of schemas: the models section alone is seconds of rendering
        "filter": True,
        "persistAuthorization": True,
        "displayRequestDuration": True,
        "tryItOutEnabled": True,
        "oauth2RedirectUrl": str(request.url.replace(path=f"{prefix}{STATIC_PATH}/oauth2-redirect.html", query="")),
        "layout": "BaseLayout",
    }
    return HTMLResponse(PAGE.format(static=prefix + STATIC_PATH, config=json.dumps(config)))


def static_files() -> StaticFiles:
    return StaticFiles(directory=SWAGGER_UI_FILES)
