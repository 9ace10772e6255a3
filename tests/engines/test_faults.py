"""Databases that go away and come back: 503 with Retry-After meanwhile, recovery without a restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from redhorn.catalog import cache as metadata_cache
from redhorn.settings import parse_settings
from tests.conftest import require_odbc_driver, running_client, settings_document, start_server
from tests.test_error_shape import assert_error_shape

SYSTEM_FILES = ("vbsys.db", "Catalog.db", "F0001.db")


def copy_demo(demo_folder: Path, target: Path, *, with_company: bool = True) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in SYSTEM_FILES + (("F9999.db",) if with_company else ()):
        shutil.copy(demo_folder / name, target / name)
    return target


async def test_a_database_missing_at_startup_is_found_once_it_is_back(
    tmp_path: Path, demo_folder: Path, engine: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(metadata_cache, "RETRY_SECONDS", 0.2)
    folder = copy_demo(demo_folder, tmp_path, with_company=False)
    settings = parse_settings(json.dumps(settings_document(folder, engine)))
    async with running_client(settings, folder) as client:
        response = await client.get("/api/9999/orders?$top=1")
        assert_error_shape(response, 503, "DatabaseUnavailable")
        assert response.headers["retry-after"] == "5"
        health = await client.get("/health")
        assert health.status_code == 503 and health.json()["databases"]["F9999"] == "unavailable"
        assert (await client.get("/api/1/orders?$top=1")).status_code == 200, "other companies go on"
        shutil.copy(demo_folder / "F9999.db", folder / "F9999.db")
        for _ in range(50):
            await asyncio.sleep(0.05)
            response = await client.get("/api/9999/orders?$top=1")
            if response.status_code == 200:
                break
        assert response.status_code == 200, response.text
        assert (await client.get("/health")).json()["databases"]["F9999"] == "ok"


def damage_header(path: Path) -> bytes:
    """Overwrite the SQLite header, so that every reader, pooled or new, gets 'not a database'.

    The tests run as root, whom file permissions do not stop, so a damaged header is how the
    file is made unreadable; restoring the 100 bytes makes it whole again.
    """
    with path.open("r+b") as handle:
        header = handle.read(100)
        handle.seek(0)
        handle.write(b"\0" * 100)
    return header


def restore_header(path: Path, header: bytes) -> None:
    with path.open("r+b") as handle:
        handle.write(header)


@pytest.mark.e2e
@pytest.mark.odbc
def test_the_odbc_engine_survives_its_file_becoming_unreadable_under_load(tmp_path: Path, demo_folder: Path):
    require_odbc_driver()
    folder = copy_demo(demo_folder, tmp_path / "data")
    company = folder / "F9999.db"
    # In write-ahead-log mode open connections read the WAL index, not the header, and go on reading
    # a damaged file; with a rollback journal every statement re-reads the header and meets the damage.
    with contextlib.closing(sqlite3.connect(company)) as connection:
        connection.execute("PRAGMA journal_mode = DELETE")
    document = settings_document(folder, "odbc")
    with start_server(tmp_path / "server", document) as server:
        answers: list[tuple[float, int, str]] = []
        stop = threading.Event()

        def load() -> None:
            with server.client() as client:
                while not stop.is_set():
                    response = client.get("/api/9999/orders", params={"$top": "20", "$skip": "5"})
                    code = response.json()["error"]["code"] if response.status_code != 200 else ""
                    if response.status_code == 503:
                        assert response.headers["retry-after"].isdigit()
                    answers.append((time.monotonic(), response.status_code, code))

        workers = [threading.Thread(target=load) for _ in range(4)]
        for worker in workers:
            worker.start()
        try:
            time.sleep(1.0)
            damaged_at = time.monotonic()
            header = damage_header(company)
            time.sleep(1.5)
            with server.client() as client:
                health = client.get("/health")
            restore_header(company, header)
            restored_at = time.monotonic()
            time.sleep(1.5)
        finally:
            stop.set()
            for worker in workers:
                worker.join(timeout=30)
        assert server.process.poll() is None, "the server never dies"
    assert health.status_code == 503 and health.json()["databases"]["F9999"] == "unavailable"
    before = [status for moment, status, _ in answers if moment < damaged_at]
    during = [(status, code) for moment, status, code in answers if damaged_at + 0.2 < moment < restored_at]
    after = [status for moment, status, _ in answers if moment > restored_at + 0.3]
    assert before and set(before) == {200}
    assert during and set(during) == {(503, "DatabaseUnavailable")}, set(during)
    assert after and set(after) == {200}
    assert {status for _, status, _ in answers} <= {200, 503}, "nothing but answers and 503s, never a 500"


async def test_a_schema_change_is_served_without_a_restart(tmp_path: Path, demo_folder: Path, engine: str):
    import sqlite3

    import httpx

    from redhorn.application import create_app
    from tests.conftest import DEMO_USER

    folder = copy_demo(demo_folder, tmp_path)
    settings = parse_settings(json.dumps(settings_document(folder, engine, Query={"SchemaCheckSeconds": 0})))
    app = create_app(settings, root=folder)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver", auth=DEMO_USER) as client:
            url = "/api/9999/associates?$top=1"
            assert "ACME_Priority" not in (await client.get(url)).json()["value"][0]
            assert (await client.get("/api/9999/acme_delroute")).status_code == 200
            cache = app.state.redhorn.metadata_cache
            assert not await cache.refresh(), "nothing changed, nothing crawled again"
            with sqlite3.connect(folder / "F9999.db") as connection:
                connection.execute('ALTER TABLE "Actor" ADD COLUMN "ACME_Priority" INT NOT NULL DEFAULT 3')
                connection.execute('DROP TABLE "ACME_DelRoute"')
            assert await cache.refresh()
            row = (await client.get(url)).json()["value"][0]
            assert row["ACME_Priority"] == 3, "the same query string is planned again with the new column"
            assert_error_shape(await client.get("/api/9999/acme_delroute"), 404, "ResourceNotFound")
            assert (await client.get("/api/1/associates?$top=1")).status_code == 200


async def test_schemas_are_checked_in_the_background(tmp_path: Path, demo_folder: Path):
    import sqlite3

    folder = copy_demo(demo_folder, tmp_path)
    settings = parse_settings(json.dumps(settings_document(folder, Query={"SchemaCheckSeconds": 0.1})))
    async with running_client(settings, folder) as client:
        with sqlite3.connect(folder / "F0001.db") as connection:
            connection.execute('CREATE TABLE "ACME_New" ("Id" INTEGER PRIMARY KEY, "Nm" VARCHAR(20))')
            connection.execute("INSERT INTO ACME_New VALUES (1, 'x')")
        for _ in range(50):
            response = await client.get("/api/1/acme_new")
            if response.status_code == 200:
                break
            await asyncio.sleep(0.05)
        assert response.json()["value"] == [{"Id": 1, "Nm": "x"}]
