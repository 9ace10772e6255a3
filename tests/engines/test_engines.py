"""Both engines behind the same interface: time limits, cancellation, unavailable databases."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from redhorn.endpoints.disconnect import while_connected
from redhorn.engines.base import Engine
from redhorn.engines.connect import create_engine
from redhorn.errors import ClientDisconnected, DatabaseUnavailable, QueryTimeout
from redhorn.settings import parse_settings
from redhorn.sql.statement import Statement
from tests.conftest import settings_document

ENDLESS = Statement("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c")
ONE = Statement("SELECT 1")


@pytest.fixture
async def database_engine(demo_folder: Path, engine: str) -> AsyncIterator[Engine]:
    settings = parse_settings(json.dumps(settings_document(demo_folder, engine)))
    created = create_engine(settings, demo_folder)
    yield created
    await created.close()


def test_the_engine_under_test_is_the_one_named(demo_folder: Path, engine: str):
    settings = parse_settings(json.dumps(settings_document(demo_folder, engine)))
    created = create_engine(settings, demo_folder)
    assert type(created).__name__ == {"sqlite": "SqliteEngine", "odbc": "OdbcEngine"}[engine]


async def test_a_statement_past_its_time_limit_is_stopped(database_engine: Engine):
    engine = database_engine
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        await engine.fetch("F9999", ENDLESS, timeout=0.3)
    assert time.monotonic() - started < 5
    assert [tuple(row) for row in await engine.fetch("F9999", ONE)] == [(1,)]


async def test_a_client_that_goes_away_cancels_its_statement(database_engine: Engine):
    engine = database_engine

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0.3)
        return {"type": "http.disconnect"}

    started = time.monotonic()
    with pytest.raises(ClientDisconnected):
        await while_connected(receive, engine.fetch("F9999", ENDLESS, timeout=30))
    assert time.monotonic() - started < 5, "the statement was stopped, not waited for"
    assert [tuple(row) for row in await engine.fetch("F9999", ONE)] == [(1,)]


async def test_a_quick_answer_is_not_watched(database_engine: Engine):
    engine = database_engine

    async def receive() -> dict[str, Any]:
        raise AssertionError("a query shorter than the watch delay never listens for a disconnect")

    assert [tuple(row) for row in await while_connected(receive, engine.fetch("F9999", ONE))] == [(1,)]


async def test_a_missing_database_is_unavailable(database_engine: Engine):
    engine = database_engine
    with pytest.raises(DatabaseUnavailable):
        await engine.fetch("F4321", ONE)
    with pytest.raises(DatabaseUnavailable):
        await engine.ping("F4321")


async def test_a_failed_connect_is_retried_then_unavailable_without_secrets_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    from tests.conftest import require_odbc_driver

    require_odbc_driver()
    document = settings_document(tmp_path, "odbc")
    document["VismaConnection"]["VismaDbConnectionString"] += ";PWD=hunter2"
    created = create_engine(parse_settings(json.dumps(document)), tmp_path)
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable) as caught:
            await created.fetch("F9999", ONE)
        assert time.monotonic() - started >= 0.2, "one retry after a pause"
    finally:
        await created.close()
    assert caught.value.response_headers()["Retry-After"]
    assert "hunter2" not in caplog.text and "hunter2" not in caught.value.message
    assert caplog.text.count("Cannot connect to database 'F9999'") == 2
