"""Connection strings: the embedded form, ODBC with a database per pool, and ADO.NET translated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from redhorn.engines.connect import create_engine, dialect_for, odbc_connection_string, odbc_pairs
from redhorn.errors import SettingsError
from redhorn.settings import parse_settings
from redhorn.sql import MssqlDialect
from redhorn.sql.sqlite import SqliteOdbcDialect

ROOT = Path("/srv/redhorn")


@pytest.mark.parametrize(
    ("text", "database", "expected"),
    [
        pytest.param(
            "Driver={ODBC Driver 18 for SQL Server};Server=tcp:db,1433;UID=ro;PWD=s3cret;Encrypt=yes",
            "F9999",
            "driver={ODBC Driver 18 for SQL Server};server=tcp:db,1433;uid=ro;pwd=s3cret;encrypt=yes;database=F9999",
            id="odbc-database-set",
        ),
        pytest.param(
            "Driver={ODBC Driver 18 for SQL Server};Server=db;Database=master;Trusted_Connection=yes",
            "vbsys",
            "driver={ODBC Driver 18 for SQL Server};server=db;database=vbsys;trusted_connection=yes",
            id="odbc-database-replaced",
        ),
        pytest.param(
            "Driver=FreeTDS;Server=db;Port=1433;TDS_Version=7.4;UID=ro;PWD=x;Database={database}",
            "Catalog",
            "driver=FreeTDS;server=db;port=1433;tds_version=7.4;uid=ro;pwd=x;database=Catalog",
            id="freetds-placeholder",
        ),
        pytest.param(
            "Data Source=sql01\\VISMA;Initial Catalog=F9999;User ID=redhorn;Password=p;Encrypt=True;"
            "TrustServerCertificate=True",
            "F0001",
            "driver={ODBC Driver 18 for SQL Server};server=sql01\\VISMA;uid=redhorn;pwd=p;encrypt=yes;"
            "trustservercertificate=yes;database=F0001",
            id="ado-net-translated",
        ),
        pytest.param(
            "Server=sql01;Database=F9999;Integrated Security=SSPI",
            "F9999",
            "driver={ODBC Driver 18 for SQL Server};server=sql01;trusted_connection=yes;database=F9999",
            id="ado-net-integrated-security",
        ),
        pytest.param(
            "Driver=SQLite3;Database=~/data/{database}.db",
            "F9999",
            "driver=SQLite3;database=/srv/redhorn/data/F9999.db;nocreat=1;timeout=2000;oemcp=0",
            id="sqlite-odbc-file-per-database",
        ),
        pytest.param(
            "Driver=SQLite3;Database=~/data/{database}.db;OEMCP=1;Timeout=500",
            "F9999",
            "driver=SQLite3;database=/srv/redhorn/data/F9999.db;oemcp=1;timeout=500;nocreat=1",
            id="sqlite-odbc-own-settings-kept",
        ),
    ],
)
def test_connection_strings_per_database(text: str, database: str, expected: str):
    assert odbc_connection_string(text, ROOT)(database) == expected


def test_the_dialect_follows_the_driver():
    assert isinstance(dialect_for(odbc_pairs("Driver=SQLite3;Database=x")), SqliteOdbcDialect)
    assert isinstance(dialect_for(odbc_pairs("Driver={ODBC Driver 17 for SQL Server};Server=x")), MssqlDialect)
    assert isinstance(dialect_for(odbc_pairs("Data Source=x;Initial Catalog=y")), MssqlDialect)


@pytest.mark.parametrize(
    "text",
    ["Engine=postgres;Host=x", "Hello", "Initial Catalog=F9999"],
    ids=["other-engine", "nonsense", "no-server"],
)
def test_unusable_connection_strings_stop_startup(text: str):
    settings = parse_settings(json.dumps({"VismaConnection": {"VismaDbConnectionString": text}}))
    with pytest.raises(SettingsError, match="VismaDbConnectionString"):
        create_engine(settings, ROOT)


def test_settings_errors_never_show_the_password():
    settings = parse_settings(json.dumps({"VismaConnection": {"VismaDbConnectionString": "Engine=x;Password=hunter2"}}))
    with pytest.raises(SettingsError) as caught:
        create_engine(settings, ROOT)
    assert "hunter2" not in str(caught.value)
