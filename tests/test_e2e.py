"""A real `redhorn serve` over TLS on 127.0.0.1, used as a client would."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import DEMO_USER, Server, settings_document, start_server

pytestmark = pytest.mark.e2e


def test_https_list_with_count_matches_the_database(server: Server, company_db: Path):
    with server.client() as client:
        response = client.get("/api/9999/orders", params={"$top": "5", "$count": "true", "$orderBy": "OrderNo desc"})
    assert response.status_code == 200
    assert response.http_version == "HTTP/1.1" and response.url.scheme == "https"
    body = response.json()
    with sqlite3.connect(company_db) as connection:
        total = connection.execute("SELECT COUNT(*) FROM Ord").fetchone()[0]
        expected = connection.execute("SELECT OrdNo, Nm FROM Ord ORDER BY OrdNo DESC LIMIT 5").fetchall()
    assert body["@odata.count"] == total
    assert [(row["OrderNo"], row["Name"]) for row in body["value"]] == expected


def test_a_whole_table_pull_over_tls(server: Server, company_db: Path):
    seen: list[tuple[int, int, float]] = []
    with server.client(headers={"Prefer": "odata.maxpagesize=1000"}) as client:
        url = "/api/9999/orderlines?$select=OrderNo,LineNo,AmountInCurrency"
        for _ in range(100):
            body = client.get(url).json()
            seen.extend((r["OrderNo"], r["LineNo"], r["AmountInCurrency"]) for r in body["value"])
            url = body.get("@odata.nextLink")
            if url is None:
                break
            assert url.startswith(server.base_url + "/api/9999/orderlines?")
    with sqlite3.connect(company_db) as connection:
        expected = connection.execute("SELECT OrdNo, LnNo, Am FROM OrdLn ORDER BY OrdNo, LnNo").fetchall()
    assert seen == expected


def test_plain_http_refused_unless_from_a_trusted_proxy(tmp_path: Path, demo_folder: Path):
    with start_server(tmp_path / "plain", settings_document(demo_folder), tls=False) as plain:
        response = httpx.get(plain.base_url + "/api/9999/orders?$top=1")
        assert response.status_code == 403 and response.json()["error"]["code"] == "HttpsRequired"
        spoofed = httpx.get(plain.base_url + "/api/9999/orders?$top=1", headers={"X-Forwarded-Proto": "https"})
        assert spoofed.status_code == 403, "forwarded headers from an untrusted client are ignored"
    document = settings_document(demo_folder, Server={"TrustedProxies": ["127.0.0.1"]})
    with start_server(tmp_path / "proxied", document, tls=False) as proxied:
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.com", "Prefer": "odata.maxpagesize=2"}
        response = httpx.get(proxied.base_url + "/api/9999/orders?$top=3", headers=headers, auth=DEMO_USER)
        assert response.status_code == 200
        assert response.json()["@odata.nextLink"].startswith("https://api.example.com/api/9999/orders?")
        assert httpx.get(proxied.base_url + "/health").status_code == 403


def test_a_bad_settings_file_stops_startup_naming_the_key(tmp_path: Path, demo_folder: Path):
    document = settings_document(demo_folder, Query={"MaxPageSize": "lots"})
    settings_file = tmp_path / "appsettings.json"
    settings_file.write_text(json.dumps(document, indent=2))
    result = subprocess.run(
        [sys.executable, "-m", "redhorn", "--settings", str(settings_file), "serve"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "$.Query.MaxPageSize" in result.stderr and "line" in result.stderr
