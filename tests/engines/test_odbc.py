"""The ODBC engine sorts a driver's errors by SQLSTATE and text: the database is away (503), the
statement ran too long, the statement is too complex (400), or the SQL itself is wrong (raised)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pyodbc
import pytest

from redhorn.engines.odbc import OdbcEngine, connection_secrets, driver_message, is_timeout, is_unavailable
from redhorn.errors import QueryTooComplex
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
