"""The service's own endpoints: what a company offers (`GET /api/{companyNo}`) and `/health`."""

from __future__ import annotations

import asyncio

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from redhorn.auth.principal import Principal
from redhorn.encoding import (
    DatabaseStatus,
    HealthReport,
    HealthStatus,
    LicenceReport,
    ResourceEntry,
    ResourceList,
    encode,
)
from redhorn.endpoints._common import JSON, target_of
from redhorn.errors import DatabaseUnavailable, QueryTimeout
from redhorn.state import State


def _state(request: Request) -> State:
    state: State = request.app.state.redhorn
    return state


async def list_resources(request: Request) -> Response:
    """GET /api/{companyNo}: the resources of a company (or of vbsys/catalog), with key and links."""
    state = _state(request)
    database = target_of(request, state, with_table=False).database
    base = str(request.url.replace(query="")).rstrip("/")
    value = [
        ResourceEntry(
            name=table.resource,
            title=table.name,
            kind="view" if table.is_view else "table",
            extension=not table.known,
            key=[column.name for column in table.key],
            url=f"{base}/{table.resource}",
            count=f"{base}/{table.resource}/$count",
        )
        for table in database.tables
    ]
    return Response(encode(ResourceList(value)), media_type=JSON)


def _licence_report(state: State) -> LicenceReport:
    """The licence as judged last, and the last renewal's failure; what does not apply is left out."""
    judged = state.licence.state
    licence = judged.licence
    days_left = judged.days_left()
    return LicenceReport(
        status=judged.status,
        id=msgspec.UNSET if licence is None else licence.id,
        licensee=msgspec.UNSET if licence is None else licence.licensee,
        expires=msgspec.UNSET if licence is None else licence.expiry_text(),
        days_left=msgspec.UNSET if days_left is None else days_left,
        companies=msgspec.UNSET if licence is None else list(licence.companies) or "all",
        reason=judged.reason or msgspec.UNSET,
        last_renewal_error=state.licence.last_renewal_error or msgspec.UNSET,
    )


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

    async def check(name: str) -> DatabaseStatus:
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
    status: HealthStatus = "ok" if healthy else "degraded"
    if isinstance(request.user, Principal):
        body = HealthReport(status=status, databases=databases, licence=_licence_report(state))
    else:
        body = HealthReport(status=status)
    return Response(encode(body), status_code=200 if healthy else 503, media_type="application/json")
