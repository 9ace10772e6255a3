"""The mirror against a fake server that keeps the delta contract: copy, changes only, deletions, 410, resume."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import pytest

from redhorn.client import Credentials, PullOptions, QuietReporter, Session, pull_async
from redhorn.client.stores import open_store
from tests.client.fakes import BASE, PASSWORD, FakeServer, thing


@pytest.fixture(params=["sqlite", "duckdb"])
def mirror_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return tmp_path / f"mirror.{request.param}"


def mirrored(path: Path) -> dict[int, tuple[Any, ...]]:
    """The mirror's `things` by Id, numbers as floats."""
    connect = duckdb.connect if path.suffix == ".duckdb" else sqlite3.connect
    connection = connect(str(path))
    try:
        rows = connection.execute('SELECT "Id", "Name", "Amount" FROM things').fetchall()
    finally:
        connection.close()
    return {row[0]: (row[1], float(row[2])) for row in rows}


def expected(server: FakeServer) -> dict[int, tuple[Any, ...]]:
    return {key: (row["Name"], float(row["Amount"])) for key, row in server.rows.items()}


async def mirror(server: FakeServer, path: Path, capsys=None, **options: Any):
    credentials = Credentials(BASE, "demo", PASSWORD, company="9999")
    async with Session(credentials, transport=server.transport()) as session:
        return await pull_async(session, ["things"], PullOptions(mirror=path, page_size=3, **options), QuietReporter())


def filled(count: int = 10, **settings: Any) -> FakeServer:
    server = FakeServer(**settings)
    for key in range(1, count + 1):
        server.put(thing(key))
    return server


async def test_the_first_run_copies_and_the_next_applies_only_the_changes(mirror_file: Path, capsys):
    server = filled()
    [first] = await mirror(server, mirror_file)
    assert first.ok and first.rows == 10 and mirrored(mirror_file) == expected(server)
    server.put(thing(3, "renamed", "9.25"))
    server.put(thing(11, "new"))
    server.remove(5)
    server.requests.clear()
    [second] = await mirror(server, mirror_file)
    assert second.ok and "1 deleted (delta)" in second.message and second.rows == 3
    assert mirrored(mirror_file) == expected(server)
    assert all("deltatoken" in str(request.url) for request in server.requests if "/things" in str(request.url))
    [third] = await mirror(server, mirror_file)
    assert third.rows == 0 and mirrored(mirror_file) == expected(server)


async def test_a_full_pull_asks_to_track_changes_with_the_page_size_in_one_prefer_header(mirror_file: Path):
    server = filled(2)
    await mirror(server, mirror_file)
    [page] = [request for request in server.requests if request.url.path == "/api/9999/things"]
    assert page.headers["Prefer"] == "odata.maxpagesize=3, odata.track-changes"
    assert page.url.params["$count"] == "true"


async def test_an_expired_delta_link_starts_a_full_copy_that_replaces_the_table(mirror_file: Path, capsys):
    server = filled()
    await mirror(server, mirror_file)
    server.expired.add(server.version)
    server.remove(2)
    server.put(thing(4, "changed"))
    [outcome] = await mirror(server, mirror_file)
    assert outcome.ok and "copied" in outcome.message
    assert "delta link expired (DeltaTokenExpired)" in capsys.readouterr().out
    assert mirrored(mirror_file) == expected(server)


async def test_untracked_deletions_are_warned_about_once(mirror_file: Path, capsys):
    server = filled(10, deletions_tracked=False)
    await mirror(server, mirror_file)
    server.remove(1)
    server.put(thing(2, "changed"))
    await mirror(server, mirror_file)
    out = capsys.readouterr().out
    assert out.count("does not report its deletions") == 1
    assert mirrored(mirror_file)[2][0] == "changed" and 1 in mirrored(mirror_file)


async def test_a_resource_the_server_cannot_track_is_copied_fully_on_each_run(mirror_file: Path, capsys):
    server = filled(5, trackable=False)
    [first] = await mirror(server, mirror_file)
    assert "copied fully on each run" in first.message
    server.remove(3)
    server.requests.clear()
    [second] = await mirror(server, mirror_file)
    assert "5" not in second.message.split()[0] and second.rows == 4
    assert mirrored(mirror_file) == expected(server)
    assert not any("deltatoken" in str(request.url) for request in server.requests)


async def test_an_interrupted_copy_goes_on_from_its_last_page_and_keeps_the_old_copy_meanwhile(mirror_file: Path):
    server = filled(10)
    await mirror(server, mirror_file)
    before = mirrored(mirror_file)

    def crash(resource: str, page: int) -> None:
        if page == 2:
            raise RuntimeError("crash after page 2")

    server.expired.add(server.version)  # the next run copies in full
    with pytest.raises(ExceptionGroup):
        await mirror(server, mirror_file, on_page=crash)
    assert mirrored(mirror_file) == before  # the half-done copy is not visible
    store = open_store(mirror_file)
    try:
        state = store.sync_of("things")
    finally:
        store.close()
    assert state is not None and state.phase == "copying" and state.rows == 6
    server.requests.clear()
    [outcome] = await mirror(server, mirror_file)
    assert outcome.rows == 10 and mirrored(mirror_file) == expected(server)
    pages = [request for request in server.requests if request.url.path == "/api/9999/things"]
    assert [request.url.params.get("page") for request in pages] == ["2", "3"]
