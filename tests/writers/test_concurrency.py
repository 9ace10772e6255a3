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

from redhorn.tools.demo.build import build_demo
from tests.conftest import TEST_SCALE, Server, start_server
from tests.processes import stop
from tests.writers.conftest import USER_CUSTOMER_INTERVAL, WriteSetup, start_emulator, write_document

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


def _slow_company(folder: Path) -> int:
    """Demo databases whose batch rows each take tens of milliseconds; the highest AssociateNo."""
    build_demo(folder, scale=TEST_SCALE)
    with contextlib.closing(sqlite3.connect(folder / "F9999.db")) as connection:
        connection.execute(SLOW_INSERTS)
        (highest,) = connection.execute('SELECT MAX("ActNo") FROM "Actor"').fetchone()
    return int(highest)


def _send_batch(server: Server, answers: list[object]) -> threading.Thread:
    def send() -> None:
        try:
            with server.client() as client:
                batch = [{"Name": f"batch {i}"} for i in range(500)]
                answers.append(client.post("/api/9999/associates", json=batch))
        except httpx.HTTPError as exc:
            answers.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    return sender


def _wait_for_uncommitted_rows(folder: Path) -> None:
    """Until a writer holds the company database's write lock: the batch is being written, uncommitted."""
    deadline = time.monotonic() + 20
    with contextlib.closing(sqlite3.connect(folder / "F9999.db", timeout=0, isolation_level=None)) as probe:
        while time.monotonic() < deadline:
            try:
                probe.execute("BEGIN IMMEDIATE")
                probe.execute("ROLLBACK")
            except sqlite3.OperationalError:
                time.sleep(0.3)  # a few rows into the batch
                return
            time.sleep(0.02)
    raise AssertionError("the batch never started")


def _assert_no_batch_rows(folder: Path) -> None:
    with contextlib.closing(sqlite3.connect(folder / "F9999.db")) as connection:
        (left,) = connection.execute("""SELECT COUNT(*) FROM "Actor" WHERE "Nm" LIKE 'batch %'""").fetchone()
        assert left == 0
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_server_killed_mid_batch_leaves_none_of_the_batch(tmp_path: Path):
    folder = tmp_path / "data"
    highest = _slow_company(folder)
    document = write_document(folder)
    answers: list[object] = []
    with start_server(tmp_path / "server", document) as server:
        sender = _send_batch(server, answers)
        _wait_for_uncommitted_rows(folder)
        server.process.kill()
        server.process.wait()
        sender.join(timeout=30)
    assert answers and isinstance(answers[0], httpx.HTTPError), f"the batch was still running: {answers}"
    _assert_no_batch_rows(folder)
    with start_server(tmp_path / "again", document) as server, server.client() as client:
        created = client.post("/api/9999/associates", json={"Name": "after the crash"})
        assert created.status_code == 201
        assert created.json()["value"]["AssociateNo"] == highest + 1, "the killed batch took no numbers"


def test_a_bridge_killed_mid_batch_leaves_none_and_the_client_is_told(tmp_path: Path):
    folder = tmp_path / "data"
    highest = _slow_company(folder)
    emulator, address, _ = start_emulator(folder, write_document(folder))
    answers: list[object] = []
    try:
        with start_server(tmp_path / "server", write_document(folder, address)) as server:
            sender = _send_batch(server, answers)
            _wait_for_uncommitted_rows(folder)
            emulator.kill()
            emulator.wait()
            sender.join(timeout=30)
            assert server.process.poll() is None, "redhorn itself goes on"
            _assert_no_batch_rows(folder)
            response = answers[0]
            assert isinstance(response, httpx.Response) and response.status_code == 503, answers
            assert response.json()["error"]["code"] == "WriterUnavailable" and response.headers["retry-after"]
            emulator, address_again, _ = start_emulator(folder, write_document(folder))
            with start_server(tmp_path / "again", write_document(folder, address_again)) as again:
                with again.client() as client:
                    created = client.post("/api/9999/associates", json={"Name": "after the crash"})
            assert created.status_code == 201
            assert created.json()["value"]["AssociateNo"] == highest + 1, "the killed batch took no numbers"
    finally:
        stop(emulator)
