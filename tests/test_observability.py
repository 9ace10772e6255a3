"""Logs, request ids and Server-Timing: JSON lines from a real server, ids echoed or made, no secret logged."""

from __future__ import annotations

import io
import json
import logging
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from redhorn.server.logs import JsonFormatter, TextFormatter, chosen_format, log_config, request_id
from redhorn.server.observe import incoming_request_id, logged_path
from tests.conftest import DEMO_USER, Server, settings_document, start_server

ISO_UTC_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
GENERATED_ID = re.compile(r"[0-9a-f]{32}")
SERVER_TIMING = re.compile(r"db;dur=(\d+\.\d+), total;dur=(\d+\.\d+)")
# What `redhorn serve` prints before it logs anything: its address, not a log line.
BANNER = "redhorn serves "


def log_lines(server: Server) -> list[dict[str, Any]]:
    """Every complete line of the server's output parsed as JSON; a line that is not JSON fails the test."""
    text = server.log()
    complete = text[: text.rfind("\n") + 1]  # a line being written as this reads is left for later
    return [json.loads(line) for line in complete.splitlines() if line.strip() and not line.startswith(BANNER)]


def wait_for_lines(server: Server, *ids: str) -> list[dict[str, Any]]:
    """The log once the access lines of the requests `ids` are in it: a line is written after its answer."""
    deadline = time.monotonic() + 10
    while True:
        lines = log_lines(server)
        logged = {line.get("request_id") for line in lines if line["logger"] == "redhorn.access"}
        if set(ids) <= logged or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def access_lines(server: Server) -> list[dict[str, Any]]:
    return [line for line in log_lines(server) if line["logger"] == "redhorn.access"]


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory, demo_folder: Path):
    with start_server(tmp_path_factory.mktemp("observed"), settings_document(demo_folder, "sqlite")) as server:
        yield server


@pytest.mark.e2e
def test_every_line_is_json_and_the_access_line_names_the_request(observed: Server):
    with observed.client() as client:
        response = client.get("/api/9999/orders", params={"$top": 2}, headers={"X-Request-ID": "fields-check.1"})
    assert response.status_code == 200
    lines = wait_for_lines(observed, "fields-check.1")
    assert lines, "the server logged nothing"
    for line in lines:
        assert {"time", "level", "logger", "message", "pid"} <= line.keys(), line
        assert ISO_UTC_MS.fullmatch(line["time"]), line["time"]
    assert any("Application startup complete" in line["message"] for line in lines), "uvicorn's lines are JSON too"
    [access] = [line for line in access_lines(observed) if line.get("request_id") == "fields-check.1"]
    assert access["level"] == "INFO"
    assert access["method"] == "GET" and access["path"] == "/api/9999/orders?%24top=2"
    assert access["status"] == 200 and access["user"] == DEMO_USER[0] and access["company"] == "9999"
    assert isinstance(access["duration_ms"], float) and access["duration_ms"] > 0
    assert access["client"] == "127.0.0.1"
    assert access["message"] == "GET /api/9999/orders?%24top=2 200"


@pytest.mark.e2e
def test_a_sane_request_id_is_echoed_and_any_other_replaced(observed: Server):
    with observed.client() as client:
        echoed = client.get("/health", headers={"X-Request-ID": "abc-123_x.y"})
        made = client.get("/health")
        too_long = client.get("/health", headers={"X-Request-ID": "a" * 129})
        odd = client.get("/health", headers={"X-Request-ID": "two words"})
        longest = client.get("/health", headers={"X-Request-ID": "b" * 128})
    assert echoed.headers["X-Request-ID"] == "abc-123_x.y"
    assert longest.headers["X-Request-ID"] == "b" * 128
    for response in (made, too_long, odd):
        assert GENERATED_ID.fullmatch(response.headers["X-Request-ID"]), response.headers["X-Request-ID"]
    assert len({made.headers["X-Request-ID"], too_long.headers["X-Request-ID"], odd.headers["X-Request-ID"]}) == 3
    expected = {"abc-123_x.y", made.headers["X-Request-ID"], "b" * 128}
    assert expected <= {line.get("request_id") for line in wait_for_lines(observed, *expected)}
    assert "a" * 129 not in observed.log() and "two words" not in observed.log()


@pytest.mark.e2e
def test_refusals_at_the_door_and_of_authentication_carry_an_id_and_timing_too(observed: Server):
    with observed.client(auth=("demo", "wrong")) as client:
        unauthorised = client.get("/api/9999/orders", headers={"X-Request-ID": "refused-401"})
        too_long = client.get("/api/9999/orders?$filter=" + "x" * 9000, headers={"X-Request-ID": "refused-414"})
        nowhere = client.get("/nowhere", headers={"X-Request-ID": "refused-404"})
    for response, status in ((unauthorised, 401), (too_long, 414), (nowhere, 404)):
        assert response.status_code == status
        assert SERVER_TIMING.fullmatch(response.headers["Server-Timing"])
    assert unauthorised.headers["X-Request-ID"] == "refused-401" and too_long.headers["X-Request-ID"] == "refused-414"
    lines = wait_for_lines(observed, "refused-401", "refused-414", "refused-404")
    statuses = {line["request_id"]: line["status"] for line in lines if line["logger"] == "redhorn.access"}
    assert statuses["refused-401"] == 401 and statuses["refused-414"] == 414 and statuses["refused-404"] == 404


@pytest.mark.e2e
def test_server_timing_is_parseable_and_counts_the_database(observed: Server):
    with observed.client() as client:
        page = client.get("/api/9999/orderlines?$top=100")
        health = client.get("/health")
        with client.stream(
            "GET", "/api/9999/orderlines", headers={"Accept": "application/x-ndjson", "Accept-Encoding": "identity"}
        ) as export:
            streamed_timing = export.headers["Server-Timing"]
            rows = sum(1 for _ in export.iter_lines())
    db, total = (float(value) for value in SERVER_TIMING.fullmatch(page.headers["Server-Timing"]).groups())  # type: ignore[union-attr]
    assert 0 < db <= total
    assert SERVER_TIMING.fullmatch(health.headers["Server-Timing"])
    streamed = SERVER_TIMING.fullmatch(streamed_timing)
    assert streamed is not None and export.status_code == 200 and rows > 1000, "streaming still streams"


@pytest.mark.e2e
def test_no_secret_of_a_request_reaches_the_log(tmp_path: Path, demo_folder: Path):
    document = settings_document(demo_folder, "sqlite")
    with start_server(tmp_path, document) as server, server.client(auth=None) as client:
        token = client.post(
            "/api/oauth/token", data={"grant_type": "password", "username": DEMO_USER[0], "password": DEMO_USER[1]}
        ).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        first = client.get("/api/9999/orders?$select=OrderNo", headers=bearer | {"Prefer": "odata.maxpagesize=5"})
        next_link = first.json()["@odata.nextLink"]
        skiptoken = httpx.URL(next_link).params["$skiptoken"]
        assert client.get(next_link, headers=bearer).status_code == 200
        client.get("/api/9999/orders", auth=DEMO_USER)
        client.get("/api/9999/orders", auth=("demo", "wrong-guess-456"))
        client.get("/api/9999/orders", params={"access_token": token, "password": "query-secret-789"})
        client.post("/api/oauth/token", data={"grant_type": "password", "username": "demo", "password": "form-123"})
        client.post(
            "/api/9999/associates", headers=bearer | {"Idempotency-Key": "key-1", "X-Request-ID": "last"}, content=b"{"
        )
        wait_for_lines(server, "last")
        log = server.log()
    assert "GET /api/9999/orders" in log and "/api/oauth/token" in log, "the access log is on"
    for secret in (DEMO_USER[1], "wrong-guess-456", "query-secret-789", "form-123", token, token.split(".")[-1]):
        assert secret not in log
    assert "Authorization" not in log and "Bearer" not in log and "Basic " not in log
    assert len(skiptoken) > 12 and skiptoken not in log and skiptoken[:8] + "..." in log


@pytest.mark.e2e
def test_a_warning_logged_while_answering_names_the_request(tmp_path: Path, demo_folder: Path):
    """A licence that cannot be read answers 503, whose cause `handle_api_error` logs: under the request's id."""
    document = settings_document(demo_folder, "sqlite", ApiLicence={"LicenceFilePath": "missing.lic"})
    with start_server(tmp_path, document) as server, server.client() as client:
        response = client.get("/api/9999/orders?$top=1", headers={"X-Request-ID": "licence-503"})
        lines = wait_for_lines(server, "licence-503")
    assert response.status_code == 503
    warnings = [line for line in lines if line["level"] == "WARNING" and "answered 503" in line["message"]]
    assert warnings and all(line["request_id"] == "licence-503" for line in warnings)
    assert all("request_id" not in line for line in lines if "startup complete" in line["message"])


@pytest.mark.e2e
def test_text_format_and_no_access_log(tmp_path: Path, demo_folder: Path):
    document = settings_document(demo_folder, "sqlite", Logs={"Format": "text"})
    with start_server(tmp_path / "text", document) as server, server.client() as client:
        client.get("/health", headers={"X-Request-ID": "text-1"})
        deadline = time.monotonic() + 10
        while "GET /health 200" not in server.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        log = server.log()
    access = [line for line in log.splitlines() if "redhorn.access" in line]
    assert access and "GET /health 200" in access[-1] and not log.lstrip().startswith("{")
    with start_server(tmp_path / "quiet", settings_document(demo_folder, "sqlite"), "--no-access-log") as server:
        with server.client() as client:
            assert client.get("/health").headers["X-Request-ID"]
        assert "redhorn.access" not in server.log() and "Application startup complete" in server.log()


def test_incoming_request_ids():
    assert incoming_request_id([(b"x-request-id", b"A.b_c-9")]) == "A.b_c-9"
    for bad in (b"", b"a b", b"\xc3\xa9", b"x" * 129, b"a/b", b"a\nb"):
        assert incoming_request_id([(b"x-request-id", bad)]) is None
    assert incoming_request_id([(b"x-other", b"abc")]) is None


def test_logged_paths_blank_credentials_and_cut_page_tokens():
    scope = {
        "path": "/api/9999/orders",
        "raw_path": b"/api/9999/orders",
        "query_string": b"$skiptoken=ABCDEFGHIJKLMNOP&pass%77ord=hunter2&%24deltatoken=0123456789&$top=5",
    }
    assert logged_path(scope) == (
        "/api/9999/orders?$skiptoken=ABCDEFGH...&pass%77ord=***&%24deltatoken=01234567...&$top=5"
    )
    assert logged_path({"path": "/x", "raw_path": b"/x%0Ay", "query_string": b""}) == "/x%0Ay", "as sent, escaped"
    short = {"path": "/a", "query_string": b"$skiptoken=abc"}
    assert logged_path(short) == "/a?$skiptoken=abc"


def test_the_formatters_add_the_request_id_of_the_moment():
    record = logging.LogRecord("redhorn", logging.WARNING, __file__, 1, "about %s", ("x",), None)
    token = request_id.set("rid-1")
    try:
        line = json.loads(JsonFormatter().format(record))
        text = TextFormatter().format(record)
    finally:
        request_id.reset(token)
    assert line["request_id"] == "rid-1" and line["message"] == "about x" and line["level"] == "WARNING"
    assert ISO_UTC_MS.fullmatch(line["time"]) and text.endswith("about x [request rid-1]")
    assert "request_id" not in json.loads(JsonFormatter().format(record))


def test_auto_format_follows_the_terminal():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert chosen_format("auto", Terminal()) == "text" and chosen_format("auto", io.StringIO()) == "json"
    assert chosen_format("json", Terminal()) == "json" and chosen_format("text", io.StringIO()) == "text"
    config = log_config("json", access_log=False)
    assert config["loggers"]["redhorn.access"]["level"] == "WARNING"
    assert config["formatters"]["default"]["()"] == "redhorn.server.logs.JsonFormatter"
    assert config["root"]["handlers"] == ["default"], "a library's line is JSON too"
