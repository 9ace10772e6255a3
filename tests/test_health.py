"""`/health/live` and `/health/ready`: public probes, cheap enough to poll every second."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from redhorn.encoding import DatabaseStatus
from redhorn.endpoints import health
from redhorn.errors import DatabaseBusy, DatabaseUnavailable
from redhorn.settings import parse_settings
from tests.conftest import DEMO_USER, running_client, settings_document, start_server

ALL_DATABASES = ("vbsys.db", "Catalog.db", "F9999.db", "F0001.db")


def copy_demo(demo_folder: Path, target: Path, names: tuple[str, ...] = ALL_DATABASES) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(demo_folder / name, target / name)
    return target


def app_settings(folder: Path, **sections: Any):
    return parse_settings(json.dumps(settings_document(folder, **sections)))


async def test_live_answers_ok_to_anyone_and_is_never_cached(client: httpx.AsyncClient):
    response = await client.get("/health/live", auth=None)
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"


async def test_ready_tells_an_anonymous_probe_the_status_and_nothing_else(client: httpx.AsyncClient):
    response = await client.get("/health/ready", auth=None)
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store" and "retry-after" not in response.headers


async def test_ready_tells_a_user_each_database_and_the_licence(client: httpx.AsyncClient):
    report = (await client.get("/health/ready")).json()
    assert report["status"] == "ok"
    assert report["databases"] == {"Catalog": "ok", "F0001": "ok", "F9999": "ok", "vbsys": "ok"}
    assert report["licence"] == {"status": "unlicensed"}


async def test_a_company_database_down_is_degraded_and_still_ready(tmp_path: Path, demo_folder: Path):
    folder = copy_demo(demo_folder, tmp_path, ("vbsys.db", "Catalog.db", "F9999.db"))
    async with running_client(app_settings(folder), folder) as client:
        anonymous = await client.get("/health/ready", auth=None)
        detailed = await client.get("/health/ready")
        live = await client.get("/health/live", auth=None)
    assert anonymous.status_code == 200 and anonymous.json() == {"status": "degraded"}
    assert detailed.json()["databases"]["F0001"] == "unavailable"
    assert detailed.json()["databases"]["F9999"] == "ok"
    assert live.status_code == 200


async def test_no_company_database_is_unavailable_with_retry_after(tmp_path: Path, demo_folder: Path):
    folder = copy_demo(demo_folder, tmp_path, ("vbsys.db", "Catalog.db"))
    async with running_client(app_settings(folder), folder) as client:
        response = await client.get("/health/ready", auth=None)
        live = await client.get("/health/live", auth=None)
    assert response.status_code == 503 and response.json() == {"status": "unavailable"}
    assert response.headers["retry-after"] == str(health.RETRY_AFTER_SECONDS)
    assert live.status_code == 200 and live.json() == {"status": "ok"}, "live touches no database"


async def test_an_invalid_licence_is_unavailable_though_every_database_answers(tmp_path: Path, demo_folder: Path):
    licence = {"LicenceFilePath": str(tmp_path / "missing.lic"), "IssuerPublicKey": str(tmp_path / "missing.pem")}
    async with running_client(app_settings(demo_folder, ApiLicence=licence), demo_folder) as client:
        anonymous = await client.get("/health/ready", auth=None)
        detailed = await client.get("/health/ready")
        live = await client.get("/health/live", auth=None)
    assert anonymous.status_code == 503 and anonymous.json() == {"status": "unavailable"}
    assert anonymous.headers["retry-after"].isdigit()
    assert detailed.json()["licence"]["status"] == "invalid"
    assert set(detailed.json()["databases"].values()) == {"ok"}
    assert live.status_code == 200


async def test_the_old_health_answers_as_before(client: httpx.AsyncClient):
    assert (await client.get("/health", auth=None)).json() == {"status": "ok"}
    assert (await client.get("/health")).json()["databases"]["F9999"] == "ok"


@pytest.mark.parametrize(
    ("databases", "licence_holds", "status"),
    [
        ({"vbsys": "ok", "Catalog": "ok", "F1": "ok", "F2": "ok"}, True, "ok"),
        ({"vbsys": "ok", "Catalog": "unavailable", "F1": "ok", "F2": "ok"}, True, "degraded"),
        ({"vbsys": "ok", "Catalog": "ok", "F1": "starting", "F2": "ok"}, True, "degraded"),
        ({"vbsys": "ok", "Catalog": "ok", "F1": "unavailable", "F2": "unavailable"}, True, "unavailable"),
        ({"vbsys": "ok", "Catalog": "ok", "F1": "ok", "F2": "ok"}, False, "unavailable"),
        ({"vbsys": "unavailable", "Catalog": "ok"}, True, "unavailable"),
    ],
)
def test_the_readiness_rule(databases: dict[str, DatabaseStatus], licence_holds: bool, status: str):
    companies = {name for name in databases if name.startswith("F")}
    assert health.readiness(databases, companies, licence_holds) == status


class CountingEngine:
    """Pings that take a while and are counted, per database, with how many ran at once."""

    def __init__(self, down: frozenset[str] = frozenset(), busy: frozenset[str] = frozenset()) -> None:
        self.down, self.busy = down, busy
        self.pings: dict[str, int] = {}
        self.in_flight: dict[str, int] = {}
        self.most_at_once = 0

    async def ping(self, database: str) -> None:
        self.pings[database] = self.pings.get(database, 0) + 1
        self.in_flight[database] = self.in_flight.get(database, 0) + 1
        self.most_at_once = max(self.most_at_once, self.in_flight[database])
        try:
            await asyncio.sleep(0.05)
        finally:
            self.in_flight[database] -= 1
        if database in self.down:
            raise DatabaseUnavailable(f"Database {database!r} cannot be reached")
        if database in self.busy:
            raise DatabaseBusy("busy")


async def test_a_burst_of_probes_costs_one_ping_per_database_and_one_in_flight_at_most():
    engine = CountingEngine(down=frozenset({"F2"}))
    probes = health.DatabaseProbes(engine, seconds=0.3)  # type: ignore[arg-type]
    names = ["vbsys", "F1", "F2"]
    results = await asyncio.gather(*(probes.reachable(name) for _ in range(50) for name in names))
    assert results == [True, True, False] * 50
    assert engine.pings == {"vbsys": 1, "F1": 1, "F2": 1} and engine.most_at_once == 1
    await asyncio.gather(*(probes.reachable(name) for name in names))
    assert engine.pings == {"vbsys": 1, "F1": 1, "F2": 1}, "within the time a result is kept"
    await asyncio.sleep(0.35)
    await asyncio.gather(*(probes.reachable(name) for _ in range(10) for name in names))
    assert engine.pings == {"vbsys": 2, "F1": 2, "F2": 2} and engine.most_at_once == 1


async def test_a_probe_that_gives_up_does_not_cancel_the_ping_others_wait_for():
    engine = CountingEngine()
    probes = health.DatabaseProbes(engine, seconds=5)  # type: ignore[arg-type]
    first = asyncio.ensure_future(probes.reachable("F1"))
    second = asyncio.ensure_future(probes.reachable("F1"))
    await asyncio.sleep(0.01)
    first.cancel()
    assert await second is True and engine.pings == {"F1": 1}


async def test_a_busy_database_is_reachable():
    probes = health.DatabaseProbes(CountingEngine(busy=frozenset({"F1"})))  # type: ignore[arg-type]
    assert await probes.reachable("F1") is True


async def test_a_burst_of_ready_requests_pings_each_database_once(demo_folder: Path, monkeypatch: pytest.MonkeyPatch):
    async with running_client(app_settings(demo_folder), demo_folder) as client:
        state = client._transport.app.state.redhorn  # type: ignore[attr-defined]
        counts: dict[str, int] = {}
        real_ping = state.engine.ping

        async def counted(database: str) -> None:
            counts[database] = counts.get(database, 0) + 1
            await real_ping(database)

        monkeypatch.setattr(state.engine, "ping", counted)
        answers = await asyncio.gather(*(client.get("/health/ready", auth=None) for _ in range(30)))
    assert {answer.status_code for answer in answers} == {200}
    assert counts == {"Catalog": 1, "F0001": 1, "F9999": 1, "vbsys": 1}


@pytest.mark.e2e
def test_the_probes_are_public_over_tls_and_details_need_a_login(tmp_path: Path, demo_folder: Path):
    folder = copy_demo(demo_folder, tmp_path / "data", ("vbsys.db", "Catalog.db", "F9999.db"))
    with start_server(tmp_path / "server", settings_document(folder)) as server:
        with server.client(auth=None) as anonymous, server.client() as user:
            live = anonymous.get("/health/live")
            ready = anonymous.get("/health/ready")
            detailed = user.get("/health/ready")
            wrong = anonymous.get("/health/ready", auth=(DEMO_USER[0], "wrong"))
            old = anonymous.get("/health")
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json() == {"status": "degraded"}
    assert detailed.json()["databases"] == {"Catalog": "ok", "F0001": "unavailable", "F9999": "ok", "vbsys": "ok"}
    assert wrong.status_code == 401, "wrong credentials are refused, as on /health"
    assert old.status_code == 503 and old.json() == {"status": "degraded"}, "/health keeps its rule"
