"""A real `redhorn serve` over TLS on a copy of the demo (the mirror tests write to it), and helpers
that read the same rows straight from the demo's SQLite file."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from redhorn.client import Credentials, tls_verification
from tests.conftest import DEMO_USER, Server, settings_document, start_server

# The API's resources and the demo's SQL tables they read, columns in the same order.
SQL_TABLES = {"orders": "Ord", "orderlines": "OrdLn", "currencies": "Cur", "associates": "Actor"}


def copy_demo(demo_folder: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for database in demo_folder.glob("*.db"):
        shutil.copy(database, target / database.name)
    return target


@pytest.fixture(scope="session")
def pull_data(tmp_path_factory: pytest.TempPathFactory, demo_folder: Path) -> Path:
    return copy_demo(demo_folder, tmp_path_factory.mktemp("pull") / "data")


@pytest.fixture(scope="session")
def pull_server(pull_data: Path) -> Iterator[Server]:
    folder = pull_data.parent
    document = settings_document(pull_data, Writes={"IdempotencyDatabase": str(folder / "writes.db")})
    with start_server(folder / "server", document) as server:
        yield server


def credentials_for(server: Server) -> Credentials:
    return Credentials(server.base_url, DEMO_USER[0], DEMO_USER[1], company="9999")


def verify_for(server: Server) -> Any:
    return tls_verification(ca_file=str(server.certificate))


def number(value: Any) -> Any:
    """Numbers as the SQLite demo holds them (REAL), whole ones as int, so that both sides compare."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return value
    as_float = float(value)
    return int(as_float) if as_float.is_integer() else as_float


def normalized(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted((tuple(number(value) for value in row) for row in rows), key=repr)


def source_rows(data: Path, resource: str) -> list[tuple[Any, ...]]:
    """Every row of `resource` read with sqlite3 from the demo file the server serves."""
    connection = sqlite3.connect(f"file:{data / 'F9999.db'}?mode=ro", uri=True)
    try:
        return normalized(connection.execute(f"SELECT * FROM {SQL_TABLES[resource]}").fetchall())
    finally:
        connection.close()
