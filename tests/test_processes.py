"""No server a test starts outlives the run: pytest itself is interrupted and killed here, for real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.processes import spawn, stop

REPO = Path(__file__).resolve().parent.parent

# A test that starts `redhorn serve` (as every end-to-end test does), says its pid, and waits.
INNER_TEST = textwrap.dedent(
    """
    import os, time
    from pathlib import Path
    from tests.conftest import settings_document, start_server

    def test_a_server_that_waits(tmp_path):
        document = settings_document(Path(os.environ["DEMO_FOLDER"]))
        with start_server(tmp_path / "server", document, "--workers", "2") as server:
            Path(os.environ["PID_FILE"]).write_text(str(server.process.pid))
            time.sleep(600)
    """
)


def status_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command's name: state, parent, group, session, ..."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def alive(pid: int) -> bool:
    """Whether `pid` runs and is not a zombie waiting for its parent to reap it."""
    fields = status_fields(pid)
    return fields is not None and fields[0] != "Z"


def session_members(session: int) -> list[int]:
    """Every live process of a session: a server started by a test leads one, its workers are in it."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = status_fields(int(entry.name))
            if fields is not None and fields[0] != "Z" and int(fields[3]) == session:
                members.append(int(entry.name))
    return members


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find what is left running")
@pytest.mark.timeout(180)
@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_no_server_outlives_a_pytest_that_is_stopped(tmp_path: Path, demo_folder: Path, signal_number: int):
    test_file = tmp_path / "test_inner.py"
    test_file.write_text(INNER_TEST)
    pid_file = tmp_path / "server.pid"
    environment = {
        **{key: value for key, value in os.environ.items() if not key.startswith(("REDHORN_", "PYTEST_"))},
        "PYTHONPATH": str(REPO),
        "DEMO_FOLDER": str(demo_folder),
        "PID_FILE": str(pid_file),
    }
    command = [sys.executable, "-m", "pytest", "-p", "tests.processes", "-p", "no:cacheprovider", "-q"]
    command += ["--basetemp", str(tmp_path / "inner"), str(test_file)]
    with (tmp_path / "pytest.log").open("wb") as log:
        inner = spawn(command, stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=tmp_path)
    server_pid = 0
    try:
        deadline = time.monotonic() + 90
        while not pid_file.exists():
            assert inner.poll() is None, (tmp_path / "pytest.log").read_text()
            assert time.monotonic() < deadline, "the inner server did not start"
            time.sleep(0.1)
        server_pid = int(pid_file.read_text())
        deadline = time.monotonic() + 30
        while len(session_members(server_pid)) < 3:
            assert time.monotonic() < deadline, "the server and its two workers run"
            time.sleep(0.1)

        os.kill(inner.pid, signal_number)  # pytest alone, as a process manager or CI's timeout would
        inner.wait(timeout=60)

        deadline = time.monotonic() + 20
        while session_members(server_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not session_members(server_pid), "a server or one of its workers outlived pytest"
        assert not alive(server_pid)
    finally:
        stop(inner)
        for pid in session_members(server_pid) if server_pid else []:  # only when the test failed
            os.kill(pid, signal.SIGKILL)
