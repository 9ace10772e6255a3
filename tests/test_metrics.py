"""`/metrics`: who may read it, what moves, bounded labels, and one view of several workers."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from redhorn.errors import SettingsError, TooManyFailedLogins, error_classes
from redhorn.server.metrics import RequestMeter, company_label
from redhorn.settings import parse_settings
from tests.conftest import Server, settings_document, start_server

TOKEN = "metrics-token-0123456789abcdef0123"
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}
PAGE_ROUTE = "/api/{database}/{resource}"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(labels)[label] for sample, labels in samples if sample == name and label in dict(labels)}


def scrape(client: httpx.Client) -> Samples:
    response = client.get("/metrics", headers=SCRAPE, auth=None)  # the token, not the client's Basic login
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def scrape_once(server: Server) -> Samples:
    """A scrape on a connection of its own, which either worker may take."""
    with server.client() as client:
        return scrape(client)


def requests_of(samples: Samples, route: str, status: str = "200", company: str = "9999") -> float:
    return value(samples, "redhorn_requests_total", route=route, method="GET", status=status, company=company)


@pytest.fixture(scope="module")
def metered(tmp_path_factory: pytest.TempPathFactory, demo_folder: Path):
    document = settings_document(demo_folder, "sqlite", Metrics={"Token": TOKEN}, Authentication={"MaxFailedLogins": 2})
    with start_server(tmp_path_factory.mktemp("metered"), document) as server:
        yield server


@pytest.mark.e2e
def test_metrics_are_refused_without_the_token(metered: Server):
    with metered.client(auth=None) as client:
        missing = client.get("/metrics")
        wrong = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"})
        basic = client.get("/metrics", auth=("demo", "demo-password"))
        served = client.get("/metrics", headers=SCRAPE)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "AuthenticationRequired"
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "InvalidCredentials"
    assert basic.status_code == 401, "an API user is not an operator"
    assert served.status_code == 200 and "redhorn_requests_total" in served.text
    assert TOKEN not in metered.log()


@pytest.mark.e2e
def test_counters_move_and_pools_are_watched(metered: Server):
    with metered.client() as client:
        before = scrape(client)
        for _ in range(3):
            assert client.get("/api/9999/orders?$top=1").status_code == 200
        deadline = time.monotonic() + 10  # each request is counted just after its answer went out
        while requests_of(scrape(client), PAGE_ROUTE) - requests_of(before, PAGE_ROUTE) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        refused = client.post("/api/9999/associates", content=b"{", headers={"Content-Type": "application/json"})
        assert refused.status_code == 400
        after = scrape(client)
    assert requests_of(after, PAGE_ROUTE) - requests_of(before, PAGE_ROUTE) == 3
    timed = {"route": PAGE_ROUTE, "method": "GET"}
    count = "redhorn_request_duration_seconds_count"
    assert value(after, count, **timed) - value(before, count, **timed) == 3
    writes = "redhorn_writes_total"
    assert value(after, writes, outcome="4xx") - value(before, writes, outcome="4xx") == 1
    assert value(after, "redhorn_database_pool_size", database="F9999", lane="scan") == 1
    assert value(after, "redhorn_database_pool_in_use", database="F9999", lane="scan") == 0
    assert value(after, "redhorn_database_pool_wait_seconds_count", database="F9999", lane="scan") >= 3
    assert math.isnan(value(after, "redhorn_licence_days_left")), "unlicensed"


@pytest.mark.e2e
def test_failed_logins_refused_by_the_throttle_are_counted(metered: Server):
    with metered.client(auth=("throttled-user", "wrong")) as client:
        statuses = [client.get("/api/9999/orders").status_code for _ in range(4)]
    assert statuses[-1] == 429, statuses
    with metered.client() as client:
        assert value(scrape(client), "redhorn_login_throttled_total") >= 2


@pytest.mark.e2e
def test_a_thousand_bogus_paths_make_a_handful_of_label_values(metered: Server):
    with metered.client() as client:
        for number in range(1000):
            client.get(f"/api/{number % 3 and 9999 or number}/bogus{number}")
            client.get(f"/bogus/{number}")
        client.get("/api/vbsys/nothing")
        samples = scrape(client)
    routes = label_values(samples, "redhorn_requests_total", "route")
    companies = label_values(samples, "redhorn_requests_total", "company")
    # Route templates the requests above can reach: a handful, whatever the number of distinct paths.
    assert len(routes) <= 12 and "unmatched" in routes, routes
    assert all(not any(str(n) in route for n in (100, 500, 999)) for route in routes), routes
    assert companies <= {"", "9999", "1", "vbsys", "Catalog", "other"}, companies
    assert requests_of(samples, "unmatched", "404", "") >= 1000
    bogus_companies = sum(
        count
        for (name, labels), count in samples.items()
        if name == "redhorn_requests_total" and ("company", "other") in labels and ("route", PAGE_ROUTE) in labels
    )
    assert bogus_companies >= 300, "a company that does not exist is counted as other"


@pytest.mark.e2e
def test_metrics_public_or_disabled(tmp_path: Path, demo_folder: Path):
    public = settings_document(demo_folder, "sqlite", Metrics={"Public": True})
    with start_server(tmp_path / "public", public) as server, server.client(auth=None) as client:
        assert client.get("/metrics").status_code == 200
    disabled = settings_document(demo_folder, "sqlite", Metrics={"Enabled": False, "Token": TOKEN})
    with start_server(tmp_path / "off", disabled) as server, server.client(auth=None) as client:
        response = client.get("/metrics", headers=SCRAPE)
        assert response.status_code == 404 and "X-Request-ID" in response.headers


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_two_workers_are_added_up(tmp_path: Path, demo_folder: Path):
    document = settings_document(demo_folder, "sqlite", Metrics={"Token": TOKEN})
    with start_server(tmp_path, document, "--workers", "2") as server:
        deadline = time.monotonic() + 60
        while server.log().count("Application startup complete") < 2:
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)
        sent, pids = 0, set[int]()
        while len(pids) < 2 or sent < 40:  # a fresh connection each, so that both workers answer some
            assert sent < 400, "one worker took every connection"
            with server.client(headers={"X-Request-ID": f"spread-{sent}"}) as client:
                assert client.get("/api/9999/orders?$top=1").status_code == 200
            sent += 1
            if sent % 10 == 0:
                lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
                pids = {line["pid"] for line in lines if str(line.get("request_id", "")).startswith("spread-")}
        deadline = time.monotonic() + 10  # a request is counted just after its answer went out
        while requests_of(scrape_once(server), PAGE_ROUTE) != sent and time.monotonic() < deadline:
            time.sleep(0.05)
        counts = set()
        for _ in range(6):  # whichever worker answers the scrape, it counts both
            with server.client() as client:
                counts.add(requests_of(scrape(client), PAGE_ROUTE))
        assert counts == {float(sent)}, (counts, sent)


def test_write_outcomes_and_method_labels_are_bounded():
    meter = RequestMeter()

    def total(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = {outcome: total("redhorn_writes_total", outcome=outcome) for outcome in ("created", "updated", "deleted")}
    meter.record("/api/{database}/{resource}", "POST", 201, "9999", 0.01)
    meter.record("/api/{database}/{resource}/{key:path}", "PATCH", 200, "9999", 0.01)
    meter.record("/api/{database}/{resource}/{key:path}", "DELETE", 204, "9999", 0.01)
    for outcome in ("created", "updated", "deleted"):
        assert total("redhorn_writes_total", outcome=outcome) == before[outcome] + 1
    odd = total("redhorn_requests_total", route="unmatched", method="other", status="405", company="")
    meter.record("unmatched", "BREW", 405, "", 0.01)
    assert total("redhorn_requests_total", route="unmatched", method="other", status="405", company="") == odd + 1


def test_only_the_login_throttle_answers_429():
    """`redhorn_login_throttled_total` counts 429s: that holds while no other error answers 429."""
    assert {error for error in error_classes() if error.status == 429} == {TooManyFailedLogins}


def test_company_labels_exist_or_are_other():
    from redhorn.metadata import Company, Metadata

    metadata = Metadata(databases={"F9999": None, "vbsys": None}, companies={9999: Company(9999, "Demo", "F9999")})  # type: ignore[dict-item]
    assert company_label("9999", metadata) == "9999" and company_label("09999", metadata) == "9999"
    assert company_label("4242", metadata) == "other" and company_label("VBSYS", metadata) == "vbsys"
    assert company_label("catalog", metadata) == "other", "Catalog is not crawled here"
    assert company_label("x" * 50, metadata) == "other" and company_label(None, metadata) == ""


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"Logs": {"Format": "xml"}}, r"\$\.Logs\.Format"),
        ({"Logs": {"Colour": True}}, r"unknown field `Colour`.*\$\.Logs\.Colour"),
        ({"Metrics": {"Enabled": "yes"}}, r"Expected `bool`.*\$\.Metrics\.Enabled"),
        ({"Metrics": {"Token": "short"}}, r"at least 32 ASCII characters.*\$\.Metrics"),
        ({"Metrics": {"Token": "é" * 40}}, r"at least 32 ASCII characters.*\$\.Metrics"),
    ],
)
def test_bad_observability_settings_name_the_key(section: dict[str, Any], expected: str):
    text = json.dumps(settings_document(Path("/data"), "sqlite", **section), indent=2)
    with pytest.raises(SettingsError, match=expected):
        parse_settings(text)


def test_observability_settings_defaults_and_repr():
    settings = parse_settings(json.dumps(settings_document(Path("/data"), "sqlite", Metrics={"Token": TOKEN})))
    assert settings.logs.format == "auto"
    assert settings.metrics.enabled and not settings.metrics.public and settings.metrics.token == TOKEN
    assert TOKEN not in repr(settings.metrics)
