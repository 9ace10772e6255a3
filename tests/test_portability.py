"""What keeps redhorn running on Windows Server, where most of its users are, tested from Linux.

No Unix-only module on the import path of any command; file locks, replaces and folder syncs that
Windows allows; SQLite URIs that survive any folder name.
"""

from __future__ import annotations

import argparse
import configparser
import os
import shlex
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path, PureWindowsPath
from xml.etree import ElementTree

import pytest

from redhorn.cli import build_parser
from redhorn.engines.sqlite import SqliteEngine, sqlite_uri
from redhorn.licensing import keeper as licence_renewal
from redhorn.licensing.keeper import replace_when_free, write_atomically
from redhorn.sql.statement import Statement
from redhorn.writers.sqlite_writer import SqliteWriter

REPO = Path(__file__).resolve().parent.parent
# A folder name that a hand-made URI reads as a query (?), a fragment (#) and an escape (%).
AWKWARD_FOLDER = "data #1 ?mode=memory %41 café"

IMPORT_EVERYTHING_WITHOUT_FCNTL = textwrap.dedent(
    """
    import sys, pkgutil, importlib, tempfile, pathlib
    sys.modules["fcntl"] = None  # as on Windows: `import fcntl` raises ImportError
    import redhorn
    names = [m.name for m in pkgutil.walk_packages(redhorn.__path__, "redhorn.") if m.name != "redhorn.__main__"]
    for name in names:
        importlib.import_module(name)
    from redhorn.licensing.keeper import _exclusive
    lock = pathlib.Path(tempfile.mkdtemp()) / "licence.lock"
    with _exclusive(lock) as first:
        with _exclusive(lock) as second:
            assert first and not second, (first, second)
    with _exclusive(lock) as again:
        assert again
    assert sys.modules["fcntl"] is None
    print(len(names), "modules")
    """
)


def test_every_module_imports_and_the_renewal_lock_holds_without_fcntl():
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING_WITHOUT_FCNTL],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[0]) > 50


def test_the_renewal_lock_is_held_by_one_process_at_a_time(tmp_path: Path):
    lock = tmp_path / "licence.lock"
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, pathlib\n"
            "from redhorn.licensing.keeper import _exclusive\n"
            "with _exclusive(pathlib.Path(sys.argv[1])) as held:\n"
            "    print(held, flush=True)\n"
            "    time.sleep(30)\n",
            str(lock),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
            with licence_renewal._exclusive(lock) as held:
                assert not held
        finally:
            holder.kill()
    with licence_renewal._exclusive(lock) as held:
        assert held, "a lock whose holder died is free again"


def test_a_replace_waits_while_another_process_holds_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Windows refuses to replace a file another process has open, for a moment: a sharing violation."""
    target = tmp_path / "demo.lic"
    target.write_text("old")
    real_replace = os.replace
    refusals = 3

    def replace(source: str | Path, destination: str | Path) -> None:
        nonlocal refusals
        if refusals:
            refusals -= 1
            raise PermissionError(13, "The process cannot access the file because it is being used by another process")
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", replace)
    write_atomically(target, "new")
    assert target.read_text() == "new" and refusals == 0
    assert [path.name for path in tmp_path.iterdir()] == ["demo.lic"], "no temporary file is left"


def test_a_replace_gives_up_after_its_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    source, target = tmp_path / "new", tmp_path / "old"
    source.write_text("new")

    def refuse(_source: str | Path, _destination: str | Path) -> None:
        raise PermissionError(13, "held")

    monkeypatch.setattr(os, "replace", refuse)
    started = time.monotonic()
    with pytest.raises(PermissionError):
        replace_when_free(source, target, retry_seconds=0.3)
    assert 0.1 < time.monotonic() - started < 2


def test_no_folder_is_opened_for_fsync_on_windows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    real_open = os.open

    def open_file_only(path: str | Path, flags: int, *args: int) -> int:
        if Path(path).is_dir():
            raise PermissionError(13, "Windows cannot open a folder as a file")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", open_file_only)
    with pytest.raises(PermissionError):  # on POSIX the folder is synced
        write_atomically(tmp_path / "a.lic", "x")
    monkeypatch.setattr(sys, "platform", "win32")
    write_atomically(tmp_path / "b.lic", "y")
    assert (tmp_path / "b.lic").read_text() == "y"


def make_database(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE Marker (Text TEXT)")
        connection.execute("INSERT INTO Marker VALUES (?)", (value,))
    connection.close()


def test_the_uri_of_an_awkward_folder_names_that_folder(tmp_path: Path):
    path = tmp_path / AWKWARD_FOLDER / "F9999.db"
    uri = sqlite_uri(path, "ro")
    assert uri.startswith("file:") and uri.endswith("?mode=ro") and uri.count("?") == 1 and "#" not in uri
    make_database(path, "the right file")
    with sqlite3.connect(uri, uri=True) as connection:
        assert connection.execute("SELECT Text FROM Marker").fetchone() == ("the right file",)
    connection.close()


async def test_the_engine_reads_and_the_writer_writes_the_file_in_an_awkward_folder(tmp_path: Path):
    """Formatted by hand, `file:{path}?mode=ro` stopped at the `#` or `?` and opened another database."""
    folder = tmp_path / AWKWARD_FOLDER
    make_database(folder / "F9999.db", "read through the engine")
    make_database(tmp_path / "data " / "F9999.db", "a decoy where a cut-off path would lead")
    engine = SqliteEngine(folder)
    try:
        rows = await engine.fetch("F9999", Statement("SELECT Text FROM Marker"))
    finally:
        await engine.close()
    assert [tuple(row) for row in rows] == [("read through the engine",)]

    writer = SqliteWriter(folder / "F9999.db", busy_timeout=5)
    try:
        await writer.run(lambda connection: connection.execute("INSERT INTO Marker VALUES ('written')"))
    finally:
        await writer.close()
    with sqlite3.connect(folder / "F9999.db") as connection:
        assert [row[0] for row in connection.execute("SELECT Text FROM Marker ORDER BY rowid")] == [
            "read through the engine",
            "written",
        ]
    connection.close()
    assert sorted(path.name for path in folder.iterdir() if path.suffix == ".db") == ["F9999.db"]


def serve_arguments(parsed: argparse.Namespace) -> tuple[str, int]:
    return parsed.command, parsed.workers


def test_the_windows_service_sample_runs_a_command_line_redhorn_takes():
    service = ElementTree.parse(REPO / "deploy" / "redhorn.xml").getroot()
    executable = PureWindowsPath(service.findtext("executable", ""))
    assert executable.name == "redhorn.exe" and executable.parent.name == "Scripts", "a venv's console script"
    arguments = [part.strip('"') for part in shlex.split(service.findtext("arguments", ""), posix=False)]
    parsed = build_parser().parse_args(arguments)
    assert serve_arguments(parsed) == ("serve", 4)
    assert PureWindowsPath(parsed.settings).parent.parent == PureWindowsPath(service.findtext("workingdirectory", ""))
    assert service.find("serviceaccount/username") is not None and service.findtext("onfailure") is not None


def test_the_systemd_unit_runs_a_command_line_redhorn_takes():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((REPO / "deploy" / "redhorn.service").read_text())
    command = shlex.split(unit["Service"]["ExecStart"])
    assert command[0].endswith("/venv/bin/redhorn")
    parsed = build_parser().parse_args(command[1:])
    assert serve_arguments(parsed) == ("serve", 4)
    root = unit["Service"]["WorkingDirectory"]
    assert parsed.settings == f"{root}/config/appsettings.json"
    assert unit["Service"]["ReadWritePaths"].split() == [f"{root}/config", f"{root}/data"]
    assert unit["Service"]["KillSignal"] == "SIGTERM" and unit["Install"]["WantedBy"] == "multi-user.target"
