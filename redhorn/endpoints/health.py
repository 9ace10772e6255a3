"""Probes for load balancers, orchestrators and monitors: `/health/live` and `/health/ready`.

`/health/live` says the process answers HTTP: no database, no licence, the same bytes every time,
so a probe that restarts dead processes never restarts one whose database is down.

`/health/ready` says whether to send this server requests, by this rule:

- `unavailable` (503, `Retry-After`): the licence is invalid (or has expired), or no company
  database can be reached (nothing can be served; with vbsys down at startup no company is known);
- `degraded` (200): the licence holds and at least one company database answers, but some other
  database (a company, vbsys, Catalog) does not, or is reachable with its catalog not read yet;
- `ok` (200): the licence holds and every database answers.

Degraded is 200 on purpose: every host reads the same SQL Server, so a load balancer that took a
host out because one company's database is down would not bring that company back, only stop
every other company's requests too; the down company's own requests answer 503 meanwhile.

Both are meant to be polled every second by several probes at once: each database's ping is kept
for `PROBE_SECONDS`, and while one is in flight every other probe waits for that one, so a burst
of probes costs at most one ping per database per `PROBE_SECONDS`. Anonymous callers get only
`{"status": ...}`; a caller with credentials also gets each database's state and the licence.
"""

from __future__ import annotations

import asyncio
import time

from starlette.requests import Request
from starlette.responses import Response

from redhorn.auth.principal import Principal
from redhorn.encoding import DatabaseStatus, ReadinessReport, ReadinessStatus, encode
from redhorn.endpoints.service import _licence_report
from redhorn.engines.base import Engine
from redhorn.errors import DatabaseBusy, DatabaseUnavailable, QueryTimeout
from redhorn.state import State

# How long one ping's result answers every probe.
PROBE_SECONDS = 1.0
# What `Retry-After` tells a client of a server that is not ready.
RETRY_AFTER_SECONDS = 5
# Probe answers must never come from a cache between the probe and the server.
_HEADERS = {"Cache-Control": "no-store"}
_LIVE = encode(ReadinessReport(status="ok"))


class DatabaseProbes:
    """Each database's last ping, reused for `seconds`; at most one ping in flight per database."""

    def __init__(self, engine: Engine, seconds: float = PROBE_SECONDS) -> None:
        self.engine = engine
        self.seconds = seconds
        self._results: dict[str, tuple[float, bool]] = {}
        self._flights: dict[str, asyncio.Task[bool]] = {}

    async def reachable(self, name: str) -> bool:
        """Whether `name` answered its last ping, pinging it when that is older than `seconds`."""
        cached = self._results.get(name)
        if cached is not None and time.monotonic() - cached[0] < self.seconds:
            return cached[1]
        flight = self._flights.get(name)
        if flight is None or flight.done():
            flight = asyncio.get_running_loop().create_task(self._ping(name))
            self._flights[name] = flight
        # Shielded: a probe that gives up (its client went away) does not cancel the ping others await.
        return await asyncio.shield(flight)

    async def _ping(self, name: str) -> bool:
        try:
            await self.engine.ping(name)
            reachable = True
        except DatabaseBusy:  # every connection in use: reachable, and working hard
            reachable = True
        except (DatabaseUnavailable, QueryTimeout):
            reachable = False
        self._results[name] = (time.monotonic(), reachable)
        return reachable


def _state(request: Request) -> State:
    state: State = request.app.state.redhorn
    return state


def _probes(request: Request, state: State) -> DatabaseProbes:
    """The app's probes, made on first use (and again for a new engine, after a lifespan restart)."""
    probes: DatabaseProbes | None = getattr(request.app.state, "health_probes", None)
    if probes is None or probes.engine is not state.engine:
        probes = DatabaseProbes(state.engine)
        request.app.state.health_probes = probes
    return probes


async def live(request: Request) -> Response:
    """GET /health/live: the process answers; constant, and touches nothing."""
    return Response(_LIVE, media_type="application/json", headers=_HEADERS)


def readiness(databases: dict[str, DatabaseStatus], companies: set[str], licence_holds: bool) -> ReadinessStatus:
    """The rule of the module's docstring, from each database's state and the licence."""
    if not licence_holds or not any(databases.get(name) == "ok" for name in companies):
        return "unavailable"
    return "ok" if all(status == "ok" for status in databases.values()) else "degraded"


async def ready(request: Request) -> Response:
    """GET /health/ready: whether this server can serve requests (see the module's docstring)."""
    state = _state(request)
    state.metadata_cache.schedule_recrawl()
    metadata = state.metadata
    companies = {company.database for company in metadata.companies.values()}
    names = sorted({metadata.system_database, metadata.catalog_database} | companies)
    probes = _probes(request, state)
    reachable = await asyncio.gather(*(probes.reachable(name) for name in names))
    databases: dict[str, DatabaseStatus] = {
        # Reachable, but not crawled yet: its requests answer 503 until the scheduled crawl reads it.
        name: ("ok" if name in metadata.databases else "starting") if up else "unavailable"
        for name, up in zip(names, reachable, strict=True)
    }
    judged = state.licence.reload_if_changed()
    days_left = judged.days_left()
    licence_holds = judged.status != "invalid" and (days_left is None or days_left > 0)
    status = readiness(databases, companies, licence_holds)
    if isinstance(request.user, Principal):
        body = ReadinessReport(status=status, databases=databases, licence=_licence_report(state))
    else:
        body = ReadinessReport(status=status)
    headers = dict(_HEADERS)
    if status == "unavailable":
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return Response(
        encode(body),
        status_code=503 if status == "unavailable" else 200,
        media_type="application/json",
        headers=headers,
    )
