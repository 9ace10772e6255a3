"""The ODBC engine sorts a driver's errors by SQLSTATE and text: the database is away (503), the
statement ran too long, the statement is too complex (400), or the SQL itself is wrong (raised).

A statement is one call in a worker thread; one past its limit or whose client left is cancelled in
the driver, waited for, and its connection thrown away. These run through the SQLite ODBC driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyodbc
import pytest

from redhorn.engines.odbc import OdbcEngine, connection_secrets, driver_message, is_timeout, is_unavailable
from redhorn.errors import QueryTimeout, QueryTooComplex
from redhorn.sql import SqliteDialect
from redhorn.sql.statement import Statement
from tests.conftest import ODBC_DRIVER, require_odbc_driver


@pytest.mark.parametrize(
    ("error", "unavailable", "timeout"),
    [
        pytest.param(pyodbc.Error("08S01", "[08S01] Communication link failure"), True, False, id="link-lost"),
        pytest.param(pyodbc.Error("28000", "[28000] Login failed for user 'api'"), True, False, id="login-failed"),
        pytest.param(pyodbc.Error("IM002", "[IM002] Data source name not found"), True, False, id="no-driver"),
        pytest.param(
            pyodbc.ProgrammingError("42000", '[42000] Cannot open database "F9999" requested by the login.'),
            True,
            False,
            id="no-such-database",
        ),
        pytest.param(
            pyodbc.Error("HY000", "[HY000] unable to open database file (14)"), True, False, id="sqlite-file-missing"
        ),
        pytest.param(pyodbc.Error("HY000", "[HY000] database disk image is malformed"), True, False, id="damaged"),
        pytest.param(pyodbc.InterfaceError("HY000", "[HY000] the connection broke"), True, False, id="interface"),
        pytest.param(pyodbc.OperationalError("HYT00", "[HYT00] Query timeout expired"), False, True, id="timeout"),
        pytest.param(pyodbc.Error("HY008", "[HY008] Operation canceled"), False, True, id="cancelled"),
        pytest.param(pyodbc.ProgrammingError("42S02", "[42S02] Invalid object name 'Ord'"), False, False, id="bad-sql"),
        pytest.param(pyodbc.ProgrammingError("42000", "[42000] Incorrect syntax near ','"), False, False, id="syntax"),
        pytest.param(pyodbc.Error(), False, False, id="no-arguments"),
    ],
)
def test_driver_errors_are_sorted_by_sqlstate_and_text(error: pyodbc.Error, unavailable: bool, timeout: bool):
    assert is_unavailable(error) is unavailable
    assert is_timeout(error) is timeout


def test_the_drivers_message_is_one_line_said_once_and_without_the_password():
    error = pyodbc.Error("28000", "[28000] [Microsoft][ODBC Driver 18]\nLogin failed for user 'api' (pw: s3cr}et)")
    secrets = connection_secrets("Driver={ODBC Driver 18};Server=db;UID=api;PWD={s3cr}et}")
    message = driver_message(error, secrets)
    assert message == "[28000] [Microsoft][ODBC Driver 18] Login failed for user 'api' (pw: ***)"
    assert driver_message(pyodbc.Error()) == "Error"


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[OdbcEngine]:
    require_odbc_driver()
    with sqlite3.connect(tmp_path / "F0042.db") as connection:
        connection.execute('CREATE TABLE "Itm" ("No" INTEGER PRIMARY KEY)')
    connection.close()
    created = OdbcEngine(lambda name: f"Driver={ODBC_DRIVER};Database={tmp_path}/{name}.db", SqliteDialect())
    yield created
    await created.close()


@pytest.mark.odbc
async def test_a_statement_too_deep_for_the_database_is_too_complex(engine: OdbcEngine):
    with pytest.raises(QueryTooComplex):
        await engine.fetch("F0042", Statement("SELECT " + " + ".join(["1"] * 1100)))
    assert [tuple(row) for row in await engine.fetch("F0042", Statement("SELECT 2"))] == [(2,)]


@pytest.mark.odbc
async def test_a_mistake_in_the_sql_surfaces_as_the_drivers_own_error(engine: OdbcEngine):
    with pytest.raises(pyodbc.Error, match="no such table"):
        await engine.fetch("F0042", Statement('SELECT * FROM "Missing"'))


ENDLESS = Statement("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c")
ONE = Statement("SELECT 1")
# Many rows of some size: the SQLite ODBC driver spends a while both executing and fetching them.
MANY = Statement(
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT ?) "
    "SELECT x, CAST(printf('%0200d', x) AS BLOB) FROM c",
    (40_000,),
)


def pooled(engine: OdbcEngine) -> list[Any]:
    return engine._pools[("F0042", "scan")]._idle


@pytest.mark.odbc
async def test_a_statement_is_one_trip_to_a_worker_thread(engine: OdbcEngine, monkeypatch: pytest.MonkeyPatch):
    await engine.fetch("F0042", ONE)  # the connection is opened, and pooled
    loop = asyncio.get_running_loop()
    trips: list[object] = []
    run_in_executor = loop.run_in_executor

    def counted(executor: Any, function: Any, *args: Any) -> Any:
        trips.append(function)
        return run_in_executor(executor, function, *args)

    monkeypatch.setattr(loop, "run_in_executor", counted)
    rows = await engine.fetch("F0042", Statement("SELECT 1 UNION ALL SELECT 2"))
    assert [tuple(row) for row in rows] == [(1,), (2,)]
    assert len(trips) == 1, "cursor, execute, fetch and close in one call"


@pytest.mark.odbc
async def test_the_driver_holds_its_own_statement_limit_too(engine: OdbcEngine):
    limited = OdbcEngine(engine.connection_string, SqliteDialect(), timeout=7.5)
    try:
        await limited.fetch("F0042", ONE)
        (connection,) = pooled(limited)
        assert connection.connection.timeout == 7, "whole seconds, behind the engine's own limit"
    finally:
        await limited.close()


@pytest.mark.odbc
async def test_a_statement_past_its_limit_is_cancelled_and_its_connection_thrown_away(engine: OdbcEngine):
    await engine.fetch("F0042", ONE)
    (connection,) = pooled(engine)
    with pytest.raises(QueryTimeout, match="longer than 0.3 seconds"):
        await engine.fetch("F0042", ENDLESS, timeout=0.3)
    assert connection.connection.closed, "closed once the worker let go of it"
    assert pooled(engine) == []
    assert [tuple(row) for row in await engine.fetch("F0042", ONE)] == [(1,)], "a fresh connection serves the next"
    assert pooled(engine) != [connection]


@pytest.mark.odbc
async def test_a_statement_cancelled_while_it_waits_for_a_thread_never_runs(engine: OdbcEngine, tmp_path: Path):
    await engine.fetch("F0042", ONE)
    (connection,) = pooled(engine)
    busy = threading.Event()
    with ThreadPoolExecutor(1) as executor:
        connection.connection._executor = executor  # one thread, held busy: the statement waits its turn
        executor.submit(busy.wait, 10)
        running = asyncio.create_task(engine.fetch("F0042", Statement('INSERT INTO "Itm" VALUES (?)', (3,))))
        await asyncio.sleep(0.1)
        running.cancel()  # as when the client goes away
        await asyncio.sleep(0.1)
        busy.set()
        with pytest.raises(asyncio.CancelledError):
            await running
    assert connection.connection.closed
    with contextlib.closing(sqlite3.connect(tmp_path / "F0042.db")) as check:
        assert check.execute('SELECT count(*) FROM "Itm"').fetchone() == (0,), "the insert never ran"


@pytest.mark.odbc
@pytest.mark.timeout(60)
async def test_cancels_landing_while_the_rows_are_fetched_leave_the_process_standing(engine: OdbcEngine):
    """The SQLite ODBC driver's SQLCancel frees the result a fetch in the worker thread is reading:
    with that driver a statement is cancelled only while it executes, and a cancel that comes later
    waits for the rows instead of crashing the process."""
    started = time.monotonic()
    assert len(await engine.fetch("F0042", MANY)) == 40_000
    whole = time.monotonic() - started
    outcomes = []
    for step in range(1, 13):
        try:
            outcomes.append(len(await engine.fetch("F0042", MANY, timeout=whole * step / 10)))
        except QueryTimeout:
            outcomes.append(0)
    assert set(outcomes) <= {0, 40_000}
    assert [tuple(row) for row in await engine.fetch("F0042", ONE)] == [(1,)]
