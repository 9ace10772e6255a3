"""Licences against real `redhorn serve` processes over TLS, and the reference service on loopback."""

from __future__ import annotations

import contextlib
import http.server
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from redhorn.licensing.licence import generate_key, issue_licence, load_private_key, load_public_key, verify_licence
from tests.conftest import Server, free_port, settings_document, start_server
from tests.processes import spawn, stop
from tests.test_error_shape import assert_error_shape

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("issuer")
    private, public = generate_key()
    (folder / "issuer.pem").write_bytes(private)
    (folder / "issuer.pem.pub").write_bytes(public)
    return {"folder": folder, "key": load_private_key(private), "public": load_public_key(public)}


def licensed(demo_folder: Path, issuer: dict[str, Any], licence: Path, **section: Any) -> dict[str, Any]:
    return settings_document(
        demo_folder,
        ApiLicence={
            "LicenceFilePath": str(licence),
            "IssuerPublicKey": str(issuer["folder"] / "issuer.pem.pub"),
            **section,
        },
    )


def health(server: Server) -> dict[str, Any]:
    """The health report with its details, which need credentials."""
    with server.client() as client:
        return dict(client.get("/health").json())


def orders(server: Server, company: int = 9999) -> Any:
    with server.client() as client:
        return client.get(f"/api/{company}/orders?$top=1")


@pytest.mark.parametrize(
    ("make", "status", "reason"),
    [
        pytest.param(lambda key, other: issue_licence(key, "ACME", days=30), 200, None, id="valid"),
        pytest.param(
            lambda key, other: issue_licence(key, "ACME", days=1, now=time.time() - 2 * 86400),
            503,
            "expired",
            id="expired",
        ),
        pytest.param(
            lambda key, other: issue_licence(key, "ACME", days=30)[:-4] + "AAAA", 503, "signature", id="tampered"
        ),
        pytest.param(lambda key, other: issue_licence(other, "ACME", days=30), 503, "signature", id="foreign-key"),
        pytest.param(None, 503, "missing", id="missing"),
    ],
)
def test_startup_with_each_kind_of_licence(tmp_path: Path, demo_folder: Path, issuer, make, status, reason):
    licence = tmp_path / "redhorn.lic"
    if make is not None:
        licence.write_text(make(issuer["key"], load_private_key(generate_key()[0])))
    with start_server(tmp_path / "server", licensed(demo_folder, issuer, licence)) as server:
        response = orders(server)
        report = health(server)
        with server.client() as client:
            token = client.post(
                "/api/oauth/token", data={"grant_type": "password", "username": "demo", "password": "demo-password"}
            )
    assert token.status_code == 200, "authentication does not need a licence"
    if status == 200:
        assert response.status_code == 200
        assert report["licence"]["status"] == "valid" and 29 < report["licence"]["daysLeft"] <= 30
    else:
        assert_error_shape(response, 503, "LicenceInvalid")
        assert reason in response.json()["error"]["message"] and "since" in response.json()["error"]["message"]
        assert report["status"] == "degraded" and report["licence"]["status"] == "invalid"


def test_a_company_outside_the_licence_is_refused(tmp_path: Path, demo_folder: Path, issuer):
    licence = tmp_path / "redhorn.lic"
    licence.write_text(issue_licence(issuer["key"], "ACME", days=30, companies=(9999,)))
    with start_server(tmp_path / "server", licensed(demo_folder, issuer, licence)) as server:
        assert orders(server, 9999).status_code == 200
        assert_error_shape(orders(server, 1), 403, "CompanyNotLicensed")
        with server.client() as client:
            assert client.get("/api/vbsys/companies").status_code == 200
        assert health(server)["licence"]["companies"] == [9999]


def test_unlicensed_when_no_licence_file_is_named(server: Server):
    assert health(server)["licence"] == {"status": "unlicensed"}


@contextlib.contextmanager
def licence_service(issuer: dict[str, Any], port: int, log: Path) -> Iterator[str]:
    args = [sys.executable, "-m", "redhorn", "licence", "serve", "--key", str(issuer["folder"] / "issuer.pem")]
    args += ["--port", str(port), "--days", "365", "--log-level", "warning"]
    with log.open("ab") as output:
        process = spawn(args, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def wait_for(condition: Any, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("the condition did not come true in time")


def test_renewal_through_the_reference_service_reaches_every_worker(tmp_path: Path, demo_folder: Path, issuer):
    licence = tmp_path / "redhorn.lic"
    original = issue_licence(issuer["key"], "ACME", days=10)
    licence.write_text(original + "\n")
    old = verify_licence(original, issuer["public"])
    port = free_port()
    section = {"LicenceServiceBaseUrl": f"http://127.0.0.1:{port}", "CheckIntervalSeconds": 1, "RetrySeconds": 0.5}
    seen: list[str] = []
    stop = threading.Event()

    def watch() -> None:  # every read of the file finds a whole, valid licence: the old or the new
        while not stop.is_set():
            seen.append(verify_licence(licence.read_text(), issuer["public"]).id)

    watcher = threading.Thread(target=watch)
    document = licensed(demo_folder, issuer, licence, **section)
    with start_server(tmp_path / "first", document) as first, start_server(tmp_path / "second", document) as second:
        watcher.start()
        try:
            assert health(first)["licence"]["daysLeft"] < 11
            with licence_service(issuer, port, tmp_path / "service.log"):
                wait_for(lambda: verify_licence(licence.read_text(), issuer["public"]).expires > old.expires)
                wait_for(lambda: health(first)["licence"]["daysLeft"] > 300)
                wait_for(lambda: health(second)["licence"]["daysLeft"] > 300)
        finally:
            stop.set()
            watcher.join()
        assert orders(first).status_code == 200 and orders(second).status_code == 200
        logs = first.log() + second.log()
    renewed = verify_licence(licence.read_text(), issuer["public"])
    assert renewed.id == old.id and renewed.licensee == old.licensee
    assert seen and set(seen) == {old.id}
    assert "renewed" in logs and original not in logs
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".redhorn.lic")) == []


class Stub(http.server.BaseHTTPRequestHandler):
    """A licence service that misbehaves as `mode` says."""

    mode = "garbage"
    foreign = ""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.mode == "slow":
            time.sleep(3)
        body = {"garbage": b"this is not json", "foreign": b'{"licence": "%s"}' % self.foreign.encode()}.get(
            self.mode, b"{}"
        )
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.mark.parametrize(
    ("mode", "logged"),
    [
        pytest.param("down", "cannot be reached", id="down"),
        pytest.param("slow", "did not answer in time", id="slow"),
        pytest.param("garbage", "not a licence", id="garbage"),
        pytest.param("foreign", "not acceptable", id="foreign-signature"),
    ],
)
def test_a_failing_service_keeps_the_old_licence(tmp_path: Path, demo_folder: Path, issuer, mode: str, logged: str):
    licence = tmp_path / "redhorn.lic"
    original = issue_licence(issuer["key"], "ACME", days=5)
    licence.write_text(original + "\n")
    port = free_port()
    stub: http.server.HTTPServer | None = None
    if mode != "down":
        handler = type(
            "Handler",
            (Stub,),
            {"mode": mode, "foreign": issue_licence(load_private_key(generate_key()[0]), "ACME", days=99)},
        )
        stub = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        threading.Thread(target=stub.serve_forever, daemon=True).start()
    section = {
        "LicenceServiceBaseUrl": f"http://127.0.0.1:{port}",
        "CheckIntervalSeconds": 1,
        "RetrySeconds": 0.5,
        "RequestTimeoutSeconds": 1,
    }
    try:
        with start_server(tmp_path / "server", licensed(demo_folder, issuer, licence, **section)) as server:
            wait_for(lambda: logged in server.log())
            assert orders(server).status_code == 200, "the API serves on until the old licence expires"
            assert logged in health(server)["licence"]["lastRenewalError"]
            log = server.log()
    finally:
        if stub is not None:
            stub.shutdown()
            stub.server_close()
    assert licence.read_text() == original + "\n"
    assert "Licence renewal failed, retrying in" in log and original not in log and original.split(".")[2] not in log


LIFETIME_SECONDS = 12


def test_expiry_while_running_then_a_renewal_brings_the_api_back(tmp_path: Path, demo_folder: Path, issuer):
    licence = tmp_path / "redhorn.lic"
    # Long enough to outlast a server's start on a busy machine (two test processes, servers of their own).
    licence.write_text(issue_licence(issuer["key"], "ACME", days=LIFETIME_SECONDS / 86400) + "\n")
    port = free_port()
    section = {"LicenceServiceBaseUrl": f"http://127.0.0.1:{port}", "CheckIntervalSeconds": 1, "RetrySeconds": 0.5}
    with start_server(tmp_path / "server", licensed(demo_folder, issuer, licence, **section)) as server:
        assert orders(server).status_code == 200
        wait_for(lambda: orders(server).status_code == 503, seconds=LIFETIME_SECONDS + 20)
        response = orders(server)
        assert_error_shape(response, 503, "LicenceInvalid")
        assert "expired" in response.json()["error"]["message"]
        with licence_service(issuer, port, tmp_path / "service.log"):
            wait_for(lambda: orders(server).status_code == 200)
        assert health(server)["licence"]["daysLeft"] > 300
