"""Finding 1: an Idempotency-Key did not survive a crash between the write's commit and its stored answer.

One key never yields two rows, across crashes: the embedded writer records a receipt in the write's
own transaction, and a writer that cannot (VBS) holds a key whose outcome is unknown until an
operator resolves it, never freeing it by time alone.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from redhorn.settings import parse_settings
from redhorn.tools.demo.build import build_demo
from redhorn.writers.idempotency import TABLE
from tests.conftest import TEST_SCALE, Server, deep_merge, running_client, start_server
from tests.processes import stop
from tests.test_error_shape import assert_error_shape
from tests.writers.conftest import start_emulator, write_document

PENDING_SECONDS = 1.0


def store_of(folder: Path) -> Path:
    return folder / "redhorn-writes.db"


def rows_named(folder: Path, name: str) -> int:
    with contextlib.closing(sqlite3.connect(folder / "F9999.db")) as connection:
        return int(connection.execute('SELECT COUNT(*) FROM "Actor" WHERE "Nm" = ?', (name,)).fetchone()[0])


def forget_answer(folder: Path, key: str, *, age: float) -> None:
    """As if the process died after the write committed and before its answer was stored."""
    with contextlib.closing(sqlite3.connect(store_of(folder))) as connection, connection:
        changed = connection.execute(
            f'UPDATE "{TABLE}" SET "Status" = 0, "Body" = NULL, "Location" = NULL, "ETag" = NULL, "CreatedAt" = ? '
            'WHERE "IdempotencyKey" = ?',
            (time.time() - age, key),
        ).rowcount
    assert changed == 1


def undo_write(folder: Path, name: str) -> None:
    """As if the process died before the write committed: no row, and no receipt with it."""
    with contextlib.closing(sqlite3.connect(folder / "F9999.db")) as connection, connection:
        connection.execute('DELETE FROM "Actor" WHERE "Nm" = ?', (name,))
        connection.execute('DELETE FROM "RedhornWriteReceipts"')


def settings_for(folder: Path, vbs_address: str = "") -> Any:
    document = deep_merge(
        write_document(folder, vbs_address), {"Writes": {"IdempotencyPendingSeconds": PENDING_SECONDS}}
    )
    return parse_settings(json.dumps(document))


@pytest.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Path]]:
    build_demo(tmp_path, scale=TEST_SCALE)
    async with running_client(settings_for(tmp_path), tmp_path) as client:
        yield client, tmp_path


async def test_a_write_committed_before_a_crash_is_replayed_not_written_again(embedded):
    client, folder = embedded
    headers = {"Idempotency-Key": "crash-after-commit"}
    first = await client.post("/api/9999/associates", json={"Name": "Committed once"}, headers=headers)
    assert first.status_code == 201
    forget_answer(folder, "crash-after-commit", age=0)
    soon = await client.post("/api/9999/associates", json={"Name": "Committed once"}, headers=headers)
    assert_error_shape(soon, 409, "IdempotencyKeyInUse")
    forget_answer(folder, "crash-after-commit", age=PENDING_SECONDS + 1)
    retried = await client.post("/api/9999/associates", json={"Name": "Committed once"}, headers=headers)
    assert retried.status_code == 201 and retried.headers["idempotent-replayed"] == "true"
    assert retried.json()["value"]["AssociateNo"] == first.json()["value"]["AssociateNo"]
    assert retried.headers["location"] == first.headers["location"]
    assert rows_named(folder, "Committed once") == 1
    again = await client.post("/api/9999/associates", json={"Name": "Committed once"}, headers=headers)
    assert again.headers["idempotent-replayed"] == "true" and again.content == retried.content, "now stored"


async def test_a_write_that_never_committed_is_written_by_the_retry(embedded):
    client, folder = embedded
    headers = {"Idempotency-Key": "crash-before-commit"}
    first = await client.post("/api/9999/associates", json={"Name": "Never committed"}, headers=headers)
    assert first.status_code == 201
    undo_write(folder, "Never committed")
    forget_answer(folder, "crash-before-commit", age=PENDING_SECONDS + 1)
    retried = await client.post("/api/9999/associates", json={"Name": "Never committed"}, headers=headers)
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers
    assert rows_named(folder, "Never committed") == 1


async def test_a_vbs_write_whose_outcome_is_unknown_holds_its_key_until_an_operator_resolves_it(tmp_path: Path):
    build_demo(tmp_path, scale=TEST_SCALE)
    emulator, address, _log = start_emulator(tmp_path, write_document(tmp_path))
    try:
        async with running_client(settings_for(tmp_path, address), tmp_path) as client:
            headers = {"Idempotency-Key": "vbs-unknown"}
            first = await client.post("/api/9999/associates", json={"Name": "Through VBS"}, headers=headers)
            assert first.status_code == 201
            forget_answer(tmp_path, "vbs-unknown", age=PENDING_SECONDS + 1)
            for _ in range(2):  # and after any time: never freed by time alone
                retried = await client.post("/api/9999/associates", json={"Name": "Through VBS"}, headers=headers)
                assert_error_shape(retried, 409, "IdempotencyOutcomeUnknown")
                assert "vbs-unknown" in retried.json()["error"]["message"]
                time.sleep(PENDING_SECONDS + 0.1)
            assert rows_named(tmp_path, "Through VBS") == 1
        settings_file = tmp_path / "appsettings.json"
        settings_file.write_text(json.dumps(write_document(tmp_path, address)))
        listed = redhorn_command(settings_file, "idempotency", "unresolved")
        assert listed.returncode == 0 and listed.stdout.startswith("vbs-unknown\tdemo\tF9999\tassociates\t")
        resolved = redhorn_command(settings_file, "idempotency", "resolve", "vbs-unknown")  # the row was found
        assert resolved.returncode == 0, resolved.stderr
        assert "No Idempotency-Key waits" in redhorn_command(settings_file, "idempotency", "unresolved").stdout
        again = redhorn_command(settings_file, "idempotency", "resolve", "vbs-unknown")
        assert again.returncode == 2 and "vbs-unknown" in again.stderr and "Traceback" not in again.stderr
    finally:
        stop(emulator)


def redhorn_command(settings_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("REDHORN_")}
    return subprocess.run(
        [sys.executable, "-m", "redhorn", "--settings", str(settings_file), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )


def send_keyed_creates(server: Server, keys: list[str], answers: dict[str, int]) -> threading.Thread:
    def run() -> None:
        with server.client() as client:
            for key in keys:
                try:
                    response = client.post(
                        "/api/9999/orders",
                        json={"Name": key, "OrderLines": [{"ProductNo": "EL-000001", "Quantity": 1}]},
                        headers={"Idempotency-Key": key},
                    )
                    answers[key] = response.status_code
                except httpx.HTTPError:
                    return

    sender = threading.Thread(target=run, daemon=True)
    sender.start()
    return sender


def orders_named(folder: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(folder / "F9999.db")) as connection:
        rows = connection.execute("""SELECT "Nm", COUNT(*) FROM "Ord" WHERE "Nm" LIKE 'kill-%' GROUP BY "Nm" """)
        return {str(name): int(count) for name, count in rows}


@contextlib.contextmanager
def serving(folder: Path, name: str) -> Iterator[Server]:
    document = deep_merge(write_document(folder), {"Writes": {"IdempotencyPendingSeconds": PENDING_SECONDS}})
    with start_server(folder / name, document) as server:
        yield server


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_kill_9_mid_batch_then_every_key_retried_yields_one_order_each(tmp_path: Path):
    folder = tmp_path / "data"
    build_demo(folder, scale=TEST_SCALE)
    answers: dict[str, int] = {}
    count = 60
    with serving(folder, "first") as server:
        keys = [f"kill-{number}" for number in range(count)]
        senders = [send_keyed_creates(server, keys[lane::4], answers) for lane in range(4)]
        deadline = time.monotonic() + 60
        while len(answers) < 15 and time.monotonic() < deadline:
            time.sleep(0.01)
        server.process.kill()  # kill -9, between a commit and its stored answer or anywhere else
        server.process.wait()
        for sender in senders:
            sender.join(timeout=30)
    before = orders_named(folder)
    assert any(count == 1 for count in before.values()), "some orders committed before the kill"
    time.sleep(PENDING_SECONDS + 0.2)
    with serving(folder, "again") as server, server.client() as client:
        for number in range(count):
            key = f"kill-{number}"
            response = client.post(
                "/api/9999/orders",
                json={"Name": key, "OrderLines": [{"ProductNo": "EL-000001", "Quantity": 1}]},
                headers={"Idempotency-Key": key},
            )
            assert response.status_code == 201, (key, response.text)
            if key in before:
                assert response.headers.get("idempotent-replayed") == "true", f"{key} was committed: replayed"
    after = orders_named(folder)
    assert after == {f"kill-{number}": 1 for number in range(count)}, "one order per key, none twice"


class _SilentBridge(http.server.BaseHTTPRequestHandler):
    """Reads the write and answers nothing in time: the write may or may not have been applied."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(3)

    def log_message(self, format: str, *args: Any) -> None:
        pass


async def test_a_vbs_write_that_timed_out_holds_its_key_as_unknown(tmp_path: Path):
    build_demo(tmp_path, scale=TEST_SCALE)
    bridge = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SilentBridge)
    bridge.daemon_threads = True
    threading.Thread(target=bridge.serve_forever, daemon=True).start()
    try:
        address = f"http://127.0.0.1:{bridge.server_address[1]}/vbs"
        document = deep_merge(write_document(tmp_path, address), {"Writes": {"VbsTimeoutSeconds": 0.5}})
        async with running_client(parse_settings(json.dumps(document)), tmp_path) as client:
            headers = {"Idempotency-Key": "timed-out"}
            first = await client.post("/api/9999/associates", json={"Name": "Maybe"}, headers=headers)
            assert_error_shape(first, 503, "WriterUnavailable")
            retried = await client.post("/api/9999/associates", json={"Name": "Maybe"}, headers=headers)
            assert_error_shape(retried, 409, "IdempotencyOutcomeUnknown")
            other = await client.post("/api/9999/associates", json={"Name": "Other"}, headers={"Idempotency-Key": "x"})
            assert_error_shape(other, 503, "WriterUnavailable")
    finally:
        bridge.shutdown()
        bridge.server_close()
