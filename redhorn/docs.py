"""`/swagger/v1/swagger.json` and `/swagger`: the OpenAPI document and Swagger UI, served locally.

The document of a company is built on first request, then kept (as JSON and gzip bytes, with an
ETag) until the metadata changes; `If-None-Match` is answered with 304. Swagger UI's files come
from the `swagger-ui-py` package installed with redhorn, never from a CDN.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import swagger_ui
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from redhorn.auth.principal import Principal
from redhorn.encoding import encode
from redhorn.errors import AuthenticationRequired, CompanyNotFound, InvalidQuery
from redhorn.metadata import Metadata
from redhorn.openapi import build_openapi
from redhorn.resolve import resolve_database
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

    def __init__(self, version: str) -> None:
        self.version = version
        self._documents: dict[tuple[int, bool], tuple[Metadata, Document]] = {}

    def document(self, metadata: Metadata, company: int, *, standard_only: bool = False) -> Document:
        cached = self._documents.get((company, standard_only))
        if cached is not None and cached[0] is metadata:
            return cached[1]
        body = encode(build_openapi(metadata, company, version=self.version, standard_only=standard_only))
        document = Document(body, gzip.compress(body, 6), '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
        self._documents[(company, standard_only)] = (metadata, document)
        return document


def default_company(metadata: Metadata) -> int:
    """The company a document describes unless asked: the one with the most tables, then the lowest number."""
    crawled = [c for c in metadata.companies.values() if c.database in metadata.databases]
    if not crawled:
        raise CompanyNotFound("No company database is available to describe")
    best = max(crawled, key=lambda c: (len(metadata.databases[c.database].tables), -c.number))
    return best.number


def _company_of(metadata: Metadata, principal: Principal) -> int | None:
    """The first company `principal` may read that is available, in number order."""
    available = [n for n in sorted(principal.companies) if n in metadata.companies]
    available = [n for n in available if metadata.companies[n].database in metadata.databases]
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
        own = _company_of(metadata, principal) if principal is not None else None
        company = own if own is not None else default_company(metadata)
        standard_only = own is None
    document = cache.document(metadata, company, standard_only=standard_only)
    headers = {"ETag": document.etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    if document.etag in [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
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
    config = {
        "url": SPEC_PATH,
        "dom_id": "#swagger-ui",
        "deepLinking": True,
        "docExpansion": "none",
        "filter": True,
        "persistAuthorization": True,
        "displayRequestDuration": True,
        "tryItOutEnabled": True,
        "oauth2RedirectUrl": str(request.url.replace(path=f"{STATIC_PATH}/oauth2-redirect.html", query="")),
        "layout": "BaseLayout",
    }
    return HTMLResponse(PAGE.format(static=STATIC_PATH, config=json.dumps(config)))


def static_files() -> StaticFiles:
    return StaticFiles(directory=SWAGGER_UI_FILES)
