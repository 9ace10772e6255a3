"""The service's own endpoints: what a company offers (`GET /api/{companyNo}`) and `/health`."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from redhorn.auth.backends import require_principal
from redhorn.auth.principal import Principal
from redhorn.encoding import encode
from redhorn.endpoints.reads import JSON, resolve_licensed_database
from redhorn.errors import DatabaseUnavailable, QueryTimeout
from redhorn.state import State


def _state(request: Request) -> State:
    state: State = request.app.state.redhorn
    return state


async def list_resources(request: Request) -> Response:
    """GET /api/{companyNo}: the resources of a company (or of vbsys/catalog), with key and links."""
    state = _state(request)
    principal = require_principal(request)
    database = resolve_licensed_database(state, request.path_params["database"], principal)
    base = str(request.url.replace(query="")).rstrip("/")
    value = [
        {
            "name": table.resource,
            "title": table.name,
            "kind": "view" if table.is_view else "table",
            "extension": not table.known,
            "key": [column.name for column in table.key],
            "url": f"{base}/{table.resource}",
            "count": f"{base}/{table.resource}/$count",
        }
        for table in database.tables
    ]
    return Response(encode({"value": value}), media_type=JSON)


def _licence_report(state: State) -> dict[str, Any]:
    licence = state.licence.state
    report: dict[str, Any] = {"status": licence.status}
    if licence.licence is not None:
        report |= {
            "id": licence.licence.id,
            "licensee": licence.licence.licensee,
            "expires": licence.licence.expiry_text(),
            "daysLeft": licence.days_left(),
            "companies": list(licence.licence.companies) or "all",
        }
    if licence.reason:
        report["reason"] = licence.reason
    if state.licence.last_renewal_error:
        report["lastRenewalError"] = state.licence.last_renewal_error
    return report


async def health(request: Request) -> Response:
    """GET /health: whether the API and its databases answer; public, and says only that.

    Without credentials: `{"status": "ok" | "degraded"}`, nothing more (no database names, no
    licensee). With any user's credentials: each database `ok`, `unavailable`, or `starting`
    (reachable again, its catalog being read), and the licence.
    """
    state = _state(request)
    state.metadata_cache.schedule_recrawl()
    names = sorted(
        {state.metadata.system_database, state.metadata.catalog_database}
        | {company.database for company in state.metadata.companies.values()}
    )

    async def check(name: str) -> str:
        try:
            await state.engine.ping(name)
        except (DatabaseUnavailable, QueryTimeout):
            return "unavailable"
        # Reachable, but not crawled yet: requests answer 503 until the scheduled crawl finds it.
        return "ok" if name in state.metadata.databases else "starting"

    results = await asyncio.gather(*(check(name) for name in names))
    databases = dict(zip(names, results, strict=True))
    licence = state.licence.reload_if_changed()
    healthy = all(result == "ok" for result in results) and licence.status != "invalid"
    body: dict[str, Any] = {"status": "ok" if healthy else "degraded"}
    if isinstance(request.user, Principal):
        body |= {"databases": databases, "licence": _licence_report(state)}
    return Response(encode(body), status_code=200 if healthy else 503, media_type="application/json")
