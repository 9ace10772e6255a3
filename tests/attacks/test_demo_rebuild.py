"""Finding 15: `make demo` while the server ran replayed the old write-ahead log into the new file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from redhorn.tools.demo.build import build_demo
from tests.conftest import settings_document, start_server

pytestmark = pytest.mark.e2e


def integrity(path: Path) -> tuple[str, int]:
    connection = sqlite3.connect(path)
    try:
        check = connection.execute("PRAGMA quick_check").fetchone()[0]
        orders = connection.execute('SELECT COUNT(*) FROM "Ord"').fetchone()[0]
    finally:
        connection.close()
    return check, orders


def rebuild(folder: Path, scale: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("REDHORN_")}
    return subprocess.run(
        [sys.executable, "-m", "redhorn", "demo", "--folder", str(folder), "--scale", scale],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        cwd=folder,
    )


def test_a_demo_rebuild_under_a_running_server_is_refused_and_after_it_is_clean(tmp_path: Path):
    folder = tmp_path / "data"
    build_demo(folder, scale=0.002)
    before = integrity(folder / "F9999.db")
    with start_server(tmp_path / "server", settings_document(folder, "sqlite")) as server:
        with server.client() as client:
            assert client.get("/api/9999/orders?$top=1").status_code == 200  # the server holds the file
            assert client.post("/api/9999/associates", json={"Name": "Written"}).status_code == 201  # and a WAL
        refused = rebuild(folder, "0.003")
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert ".db is open in a running server" in refused.stderr and "stop the server" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert integrity(folder / "F9999.db") == before, "nothing was rebuilt under the server"
    done = rebuild(folder, "0.003")
    assert done.returncode == 0, done.stderr
    check, orders = integrity(folder / "F9999.db")
    assert check == "ok" and orders != before[1], "the new scale's orders, in a sound file"
    assert not (folder / "F9999.db-wal").exists() or (folder / "F9999.db-wal").stat().st_size == 0
