"""Writes under pressure: two server processes numbering at once, and a process killed mid-batch."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from redhorn.demo import build_demo
from tests.conftest import TEST_SCALE, Server, start_server
from tests.writers.conftest import USER_CUSTOMER_INTERVAL, WriteSetup, write_document

pytestmark = pytest.mark.e2e
CREATES = 200


def create(server: Server, names: list[str]) -> list[httpx.Response]:
    with server.client() as client, ThreadPoolExecutor(max_workers=16) as pool:
        return list(
            pool.map(
                lambda name: client.post("/api/9999/associates?$numberSeries=CustomerNo", json={"Name": name}), names
            )
        )


def test_two_processes_creating_at_once_never_share_a_number(write_setup: WriteSetup):
    folder = write_setup.folder
    with (
        start_server(folder / "first", write_setup.document) as first,
        start_server(folder / "second", write_setup.document) as second,
        ThreadPoolExecutor(max_workers=2) as both,
    ):
        names = [f"concurrent {i}" for i in range(CREATES)]
        halves = both.map(create, (first, second), (names[::2], names[1::2]))
        responses = [response for half in halves for response in half]
    refused = [r.text for r in responses if r.status_code != 201]
    assert not refused, refused[:3]
    rows = [r.json()["value"] for r in responses]
    associates = sorted(row["AssociateNo"] for row in rows)
    customers = sorted(row["CustomerNo"] for row in rows)
    assert associates == list(range(associates[0], associates[0] + CREATES)), "distinct, and no gaps"
    assert customers == list(range(customers[0], customers[0] + CREATES)), "distinct, and no gaps"
    assert USER_CUSTOMER_INTERVAL[0] <= customers[0] and customers[-1] <= USER_CUSTOMER_INTERVAL[1]


SLOW_INSERTS = """
CREATE TRIGGER "slow_batch" AFTER INSERT ON "Actor" WHEN NEW."Nm" LIKE 'batch %'
BEGIN
    SELECT COUNT(*) FROM (
        WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) SELECT x FROM c
    );
END
"""


def test_a_process_killed_mid_batch_leaves_none_of_the_batch(tmp_path: Path):
    folder = tmp_path / "data"
    build_demo(folder, scale=TEST_SCALE)
    company = folder / "F9999.db"
    with contextlib.closing(sqlite3.connect(company)) as connection:
        connection.execute(SLOW_INSERTS)  # each row of the batch takes tens of milliseconds
        (highest,) = connection.execute('SELECT MAX("ActNo") FROM "Actor"').fetchone()
    document = write_document(folder)
    answers: list[object] = []
    with start_server(tmp_path / "server", document) as server:

        def send_batch() -> None:
            try:
                with server.client() as client:
                    batch = [{"Name": f"batch {i}"} for i in range(500)]
                    answers.append(client.post("/api/9999/associates", json=batch))
            except httpx.HTTPError as exc:
                answers.append(exc)

        sender = threading.Thread(target=send_batch)
        sender.start()
        wal = folder / "F9999.db-wal"
        deadline = time.monotonic() + 20
        while not (wal.exists() and wal.stat().st_size > 64 * 1024) and time.monotonic() < deadline:
            time.sleep(0.05)  # rows are being written, uncommitted, into the log
        server.process.kill()
        server.process.wait()
        sender.join(timeout=30)
    assert answers and isinstance(answers[0], httpx.HTTPError), f"the batch was still running: {answers}"
    with contextlib.closing(sqlite3.connect(company)) as connection:
        (left,) = connection.execute("""SELECT COUNT(*) FROM "Actor" WHERE "Nm" LIKE 'batch %'""").fetchone()
        assert left == 0
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with start_server(tmp_path / "again", document) as server, server.client() as client:
        created = client.post("/api/9999/associates", json={"Name": "after the crash"})
        assert created.status_code == 201
        assert created.json()["value"]["AssociateNo"] == highest + 1, "the killed batch took no numbers"
