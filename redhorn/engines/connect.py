"""From `VismaConnection.VismaDbConnectionString` to an engine.

Three forms are understood:

- `Engine=sqlite;Data Source=~/data`: the embedded engine, one SQLite file per database.
- An ODBC connection string (it has `Driver=`): each database gets the string with its name in
  place of a `{database}` placeholder if there is one, else with `Database=<name>` set. A driver
  whose name mentions SQLite speaks the `sqlite` dialect (its JSON rows as text,
  `SqliteOdbcDialect`); every other driver speaks `mssql`.
- An ADO.NET SqlClient string as the original product's file has it (`Data Source=...;Initial
  Catalog=...;User ID=...;Password=...`): translated to ODBC Driver 18 for SQL Server. A key
  with no ODBC counterpart is left out, with a warning that names it (never its value).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from redhorn.engines.base import Engine
from redhorn.engines.pool import ODBC_POOL_SIZE, SQLITE_POOL_SIZE
from redhorn.engines.sqlite import SqliteEngine
from redhorn.errors import SettingsError
from redhorn.settings import Settings, parse_connection_string, resolve_path
from redhorn.sql.dialect import Dialect
from redhorn.sql.mssql import mssql_dialect
from redhorn.sql.sqlite import SqliteOdbcDialect

logger = logging.getLogger("redhorn.engines")

DEFAULT_ODBC_DRIVER = "ODBC Driver 18 for SQL Server"
# How long the SQLite ODBC driver waits on a locked or changing file (its own default is 100 s):
# failing fast lets the client retry on 503 instead.
SQLITE_ODBC_BUSY_TIMEOUT_MS = 2000
# ADO.NET SqlClient keys and their ODBC names.
_ADO_TO_ODBC = {
    "data source": "Server",
    "server": "Server",
    "address": "Server",
    "addr": "Server",
    "user id": "UID",
    "uid": "UID",
    "password": "PWD",
    "pwd": "PWD",
    "encrypt": "Encrypt",
    "trustservercertificate": "TrustServerCertificate",
    "connect timeout": "Connection Timeout",
    "connection timeout": "Connection Timeout",
    "application name": "APP",
    "multisubnetfailover": "MultiSubnetFailover",
    "applicationintent": "ApplicationIntent",
}
_ADO_BOOLEANS = {"true": "yes", "false": "no"}
_ADO_DATABASE_KEYS = ("initial catalog", "database")
# Windows authentication: ADO.NET's two spellings; with any other value the ODBC default (no) holds.
_ADO_TRUSTED_KEYS = ("integrated security", "trusted_connection")
_ADO_TRUE = ("true", "yes", "sspi")


def _format(pairs: dict[str, str]) -> str:
    return ";".join(f"{key}={value}" for key, value in pairs.items())


def _translate(pairs: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """An ADO.NET string's pairs in ODBC Driver 18's terms, and the keys that have none there."""
    translated = {"driver": "{" + DEFAULT_ODBC_DRIVER + "}"}
    left_out: list[str] = []
    for key, value in pairs.items():
        if key in _ADO_DATABASE_KEYS:
            continue  # each pool names its own database
        if key in _ADO_TRUSTED_KEYS:
            if value.lower() in _ADO_TRUE:
                translated["trusted_connection"] = "yes"
        elif key in _ADO_TO_ODBC:
            translated[_ADO_TO_ODBC[key].lower()] = _ADO_BOOLEANS.get(value.lower(), value)
        else:
            left_out.append(key)
    return translated, left_out


def odbc_pairs(text: str) -> dict[str, str]:
    """An ODBC connection string's pairs (keys lower-cased: ODBC keys ignore case), an ADO.NET one translated."""
    pairs = parse_connection_string(text)
    return pairs if "driver" in pairs else _translate(pairs)[0]


def untranslated_keys(text: str) -> list[str]:
    """The keys of an ADO.NET connection string that its translation to ODBC leaves out (lower-cased)."""
    pairs = parse_connection_string(text)
    return [] if "driver" in pairs else _translate(pairs)[1]


def _warn_untranslated(text: str) -> None:
    """Say which ADO.NET keys are left out: dropped silently, a setting such as a timeout or an
    authentication mode would seem to be in force when it is not. Values may be secrets: never shown."""
    keys = untranslated_keys(text)
    if keys:
        logger.warning(
            "VismaConnection.VismaDbConnectionString: ADO.NET keys with no ODBC counterpart are left out: %s; "
            "remove them, or give an ODBC string (Driver=...) to pass keys to the driver as they are",
            ", ".join(repr(key) for key in keys),
        )


def _is_sqlite_driver(pairs: dict[str, str]) -> bool:
    """Whether the ODBC driver is SQLite's: its keys and its database names (files) are its own."""
    return "sqlite" in pairs.get("driver", "").lower()


def dialect_for(pairs: dict[str, str], *, json_rows: bool = False) -> Dialect:
    """The dialect an ODBC source speaks: `sqlite` through a SQLite driver, else `mssql`.

    `json_rows` (`Query.JsonFromDatabase`) has SQL Server write each row as JSON itself; SQLite always
    does, as text through its ODBC driver (which reads a BLOB slowly).
    """
    return SqliteOdbcDialect() if _is_sqlite_driver(pairs) else mssql_dialect(json_rows=json_rows)


def odbc_connection_string(text: str, root: Path) -> Callable[[str], str]:
    """A function from a database name to its ODBC connection string.

    What the SQLite driver gets besides depends on the driver, not on the SQL it speaks, so it is
    decided here by the driver's name rather than by asking the dialect which one it is.
    """
    pairs = odbc_pairs(text)
    sqlite = _is_sqlite_driver(pairs)
    if sqlite:
        pairs.setdefault("nocreat", "1")  # a missing file is an unavailable database, not a new empty one
        pairs.setdefault("timeout", str(SQLITE_ODBC_BUSY_TIMEOUT_MS))
        # The engine reads this driver's text as UTF-8 (`redhorn.engines.odbc`); on Windows the driver
        # converts it to the ANSI code page instead unless told not to.
        pairs.setdefault("oemcp", "0")
    placeholder = any("{database}" in value for value in pairs.values())

    def for_database(database: str) -> str:
        named = {key: value.replace("{database}", database) for key, value in pairs.items()}
        if not placeholder:
            named["database"] = database
        if sqlite:
            named["database"] = str(resolve_path(named["database"], root))
        return _format(named)

    return for_database


def create_engine(settings: Settings, root: Path, *, warn: bool = True) -> Engine:
    """The engine `VismaConnection.VismaDbConnectionString` asks for.

    `warn=False` leaves out the warnings about the string, for a check made only to fail early
    (the command line's, before the server makes its engine and warns once).

    Raises:
        SettingsError: the connection string is neither the embedded form, ODBC nor ADO.NET.
    """
    text = settings.visma_connection.visma_db_connection_string
    pairs = parse_connection_string(text)
    query = settings.query
    if pairs.get("engine", "").lower() == "sqlite":
        folder = resolve_path(pairs.get("data source", "~/data"), root)
        return SqliteEngine(
            folder,
            pool_size=query.pool_size or SQLITE_POOL_SIZE,
            timeout=query.statement_timeout_seconds,
            wait_seconds=query.pool_wait_seconds,
        )
    if "engine" in pairs:
        raise SettingsError("VismaConnection.VismaDbConnectionString: Engine must be 'sqlite' or left out for ODBC")
    if "driver" not in pairs and not any(key in pairs for key in ("data source", "server", "address", "addr")):
        raise SettingsError(
            "VismaConnection.VismaDbConnectionString: expected 'Engine=sqlite;Data Source=<folder>', "
            "an ODBC string with Driver=..., or an ADO.NET string with Data Source=..."
        )
    try:
        from redhorn.engines.odbc import OdbcEngine  # aioodbc and pyodbc are the `odbc` extra
    except ImportError as exc:
        raise SettingsError(
            "VismaConnection.VismaDbConnectionString names an ODBC source; install redhorn[odbc] "
            f"(aioodbc, pyodbc) and unixODBC: {exc}"
        ) from None

    if warn:
        _warn_untranslated(text)
    return OdbcEngine(
        odbc_connection_string(text, root),
        dialect_for(odbc_pairs(text), json_rows=query.json_from_database),
        pool_size=query.pool_size or ODBC_POOL_SIZE,
        timeout=query.statement_timeout_seconds,
        wait_seconds=query.pool_wait_seconds,
    )
