"""`redhorn pull --mirror` against a live server: the first run copies; after a write, the next applies just it.

The second half needs the server's delta links (`Prefer: odata.track-changes`, `@odata.deltaLink`).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from redhorn.client import PullOptions, pull
from redhorn.client.stores import open_store
from redhorn.query.delta import SETTLE_SECONDS
from tests.client.conftest import credentials_for, normalized, source_rows, verify_for
from tests.conftest import Server

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["sqlite", "duckdb"])
def mirror_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return tmp_path / f"warehouse.{request.param}"


def mirrored(path: Path, table: str) -> list[tuple[Any, ...]]:
    connect = duckdb.connect if path.suffix == ".duckdb" else sqlite3.connect
    connection = connect(str(path))
    try:
        return normalized(connection.execute(f'SELECT * FROM "{table}"').fetchall())
    finally:
        connection.close()


def run(server: Server, path: Path, *resources: str):
    options = PullOptions(mirror=path, page_size=250)
    return pull(credentials_for(server), list(resources), options, verify=verify_for(server))


def test_the_first_run_copies_every_row(pull_server: Server, pull_data: Path, mirror_file: Path):
    outcomes = run(pull_server, mirror_file, "orders", "currencies")
    assert all(outcome.ok for outcome in outcomes), outcomes
    for resource in ("orders", "currencies"):
        assert mirrored(mirror_file, resource) == source_rows(pull_data, resource)


def test_a_full_copy_stores_the_delta_link_the_server_gives(pull_server: Server, mirror_file: Path):
    """Needs the server's delta links."""
    run(pull_server, mirror_file, "orders")
    store = open_store(mirror_file)
    try:
        state = store.sync_of("orders")
    finally:
        store.close()
    assert state is not None and state.phase == "synced"
    assert state.delta_link and state.delta_link.startswith(f"{pull_server.base_url}/api/9999/orders")


def test_the_next_run_applies_just_the_writes(pull_server: Server, pull_data: Path, mirror_file: Path):
    """Needs the server's delta links: a change, an addition and a deletion come back as three delta rows."""
    [copied] = run(pull_server, mirror_file, "orders")
    assert copied.ok
    with pull_server.client() as client:
        existing = client.get("/api/9999/orders", params={"$top": "2", "$select": "OrderNo"}).json()["value"]
        changed, deleted = (row["OrderNo"] for row in existing)
        assert (
            client.patch(f"/api/9999/orders/{changed}", json={"Name": f"Mirrored change {time.time()}"}).status_code
            == 200
        )
        customer = client.get(
            "/api/9999/associates", params={"$top": "1", "$select": "CustomerNo", "$filter": "CustomerNo gt 0"}
        ).json()["value"][0]["CustomerNo"]
        assert client.post("/api/9999/orders", json={"CustomerNo": customer, "Name": "Mirrored new"}).status_code == 201
        assert client.delete(f"/api/9999/orders/{deleted}").status_code == 204
    time.sleep(SETTLE_SECONDS + 0.3)  # changes stamped in the server's last seconds wait for the next delta
    [delta] = run(pull_server, mirror_file, "orders")
    assert delta.ok and "(delta)" in delta.message, delta.message
    assert delta.rows == 3
    assert mirrored(mirror_file, "orders") == source_rows(pull_data, "orders")
