"""`redhorn serve --workers 2` behaves as one server: one signing key, one login throttle, and a
shutdown that lets requests in flight finish within `Server.ShutdownTimeoutSeconds`."""

from __future__ import annotations

import signal
import stat
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from redhorn.server.keys import KEY_FILE
from tests.conftest import DEMO_USER, Server, settings_document, start_server

pytestmark = pytest.mark.e2e

TOKEN_FORM = {"grant_type": "password", "username": DEMO_USER[0], "password": DEMO_USER[1]}


def without_signing_key(demo_folder: Path, **sections: Any) -> dict[str, Any]:
    document = settings_document(demo_folder, **sections)
    del document["Tokens"]
    return document


def fresh_connections(server: Server, **kwargs: Any) -> httpx.Client:
    """A connection per request, so that the kernel hands requests to either worker."""
    return server.client(limits=httpx.Limits(max_keepalive_connections=0), **kwargs)


def test_workers_share_a_key_kept_beside_the_settings_across_restarts(tmp_path: Path, demo_folder: Path):
    document = without_signing_key(demo_folder)
    with start_server(tmp_path, document, "--workers", "2") as server, fresh_connections(server, auth=None) as client:
        token = client.post("/api/oauth/token", data=TOKEN_FORM).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        paged = bearer | {"Prefer": "odata.maxpagesize=1"}
        answers = [client.get("/api/9999/orders?$select=OrderNo", headers=paged) for _ in range(12)]
        following = [client.get(a.json()["@odata.nextLink"], headers=bearer) for a in answers]
    assert [answer.status_code for answer in answers] == [200] * 12, "a token of one worker is good on both"
    assert [page.status_code for page in following] == [200] * 12, "and so is a $skiptoken"
    key_file = tmp_path / KEY_FILE
    assert len(bytes.fromhex(key_file.read_text().strip())) == 32
    if sys.platform != "win32":
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600, "readable by its owner alone"
    with start_server(tmp_path, document) as restarted, restarted.client(auth=None) as client:
        assert client.get("/api/9999/orders?$top=1", headers=bearer).status_code == 200, "the key outlived a restart"
    assert token not in server.log() and key_file.read_text().strip() not in server.log()


def test_workers_count_failed_logins_together(tmp_path: Path, demo_folder: Path):
    limit = 3
    document = settings_document(
        demo_folder,
        Authentication={"MaxFailedLogins": limit, "FailedLoginDatabase": str(tmp_path / "logins.db")},
    )
    wrong = TOKEN_FORM | {"password": "guess"}
    with start_server(tmp_path, document, "--workers", "2") as server, fresh_connections(server, auth=None) as client:
        failures = [client.post("/api/oauth/token", data=wrong).status_code for _ in range(limit)]
        refused = [client.post("/api/oauth/token", data=TOKEN_FORM).status_code for _ in range(4)]
    assert failures == [400] * limit
    assert refused == [429] * 4, "whichever worker takes the login, it knows the failures of both"


def graceful_stop(process: Any) -> None:
    """What a service manager sends: SIGTERM on POSIX, Ctrl+Break to the process group on Windows."""
    if sys.platform == "win32":
        process.send_signal(signal.CTRL_BREAK_EVENT)
    else:
        process.send_signal(signal.SIGTERM)


@pytest.fixture
def slow_body() -> Iterator[threading.Event]:
    release = threading.Event()
    yield release
    release.set()


def test_a_request_in_flight_finishes_after_sigterm_and_the_server_exits_in_time(
    tmp_path: Path, demo_folder: Path, slow_body: threading.Event
):
    bound = 3
    document = settings_document(demo_folder, Server={"ShutdownTimeoutSeconds": bound})
    answers: dict[str, httpx.Response | BaseException] = {}
    started = {name: threading.Event() for name in ("finishing", "stuck")}

    def body(name: str, finish: bool) -> Iterator[bytes]:
        yield b"grant_type=password&username=demo&"
        started[name].set()
        if finish:
            slow_body.wait(10)
            yield b"password=demo-password"
        else:
            time.sleep(30)  # never finishes within the bound: the server must not wait for it

    def post(server: Server, name: str, finish: bool) -> None:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        with server.client(auth=None) as client:
            try:
                answers[name] = client.post("/api/oauth/token", content=body(name, finish), headers=headers)
            except httpx.HTTPError as exc:
                answers[name] = exc

    with start_server(tmp_path, document, "--workers", "2") as server:
        threads = [
            threading.Thread(target=post, args=(server, "finishing", True), daemon=True),
            threading.Thread(target=post, args=(server, "stuck", False), daemon=True),
        ]
        for thread in threads:
            thread.start()
        assert all(event.wait(10) for event in started.values())
        time.sleep(0.5)  # the servers have the headers and the first part of each body
        graceful_stop(server.process)
        time.sleep(1)
        slow_body.set()  # the rest of the first body, a second after the signal
        threads[0].join(10)
        began = time.monotonic()
        server.process.wait(bound + 10)
        exited_after = time.monotonic() - began
        log = server.log()
    answer = answers["finishing"]
    assert isinstance(answer, httpx.Response) and answer.status_code == 200, log
    assert answer.json()["token_type"] == "bearer"
    assert exited_after < bound + 5, log
    assert "timeout graceful shutdown exceeded" in log, "the stuck request was cancelled at the bound"
