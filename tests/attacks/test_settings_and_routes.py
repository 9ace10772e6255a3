"""Findings 14, 18 and 20: settings that parse but cannot work, the 405's Allow, and replays by shape."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from redhorn.errors import SettingsError
from redhorn.settings import parse_settings
from tests.test_error_shape import assert_error_shape

BASE: dict[str, Any] = {"VismaConnection": {"VismaDbConnectionString": "Engine=sqlite;Data Source=~/data"}}


@pytest.mark.parametrize(
    ("section", "values", "key"),
    [
        ("Query", {"MaxPageSize": 0}, "$.Query.MaxPageSize"),
        ("Query", {"MaxPageSize": -1}, "$.Query.MaxPageSize"),
        ("Query", {"StatementTimeoutSeconds": 0}, "$.Query.StatementTimeoutSeconds"),
        ("Query", {"PoolSize": 0}, "$.Query.PoolSize"),
        ("Query", {"MaxQueryStringBytes": 0}, "$.Query.MaxQueryStringBytes"),
        ("Server", {"Port": 99999}, "$.Server.Port"),
        ("Server", {"Port": 0}, "$.Server.Port"),
        ("Server", {"MaxRequestHeaderBytes": -5}, "$.Server.MaxRequestHeaderBytes"),
        ("Tokens", {"LifetimeSeconds": 0}, "$.Tokens.LifetimeSeconds"),
        ("Authentication", {"MaxFailedLogins": 0}, "$.Authentication.MaxFailedLogins"),
        ("Writes", {"MaxBodyBytes": 0}, "$.Writes.MaxBodyBytes"),
        ("Writes", {"VbsTimeoutSeconds": -1}, "$.Writes.VbsTimeoutSeconds"),
        ("ApiLicence", {"CheckIntervalSeconds": 0}, "$.ApiLicence.CheckIntervalSeconds"),
        ("ApiUsers", [{"Username": "nopass", "Password": ""}], "$.ApiUsers[0].Password"),
        ("ApiUsers", [{"Username": "", "Password": "x"}], "$.ApiUsers[0].Username"),
        ("ApiUsers", [{"Username": "u", "Password": "x", "AccessibleCompanies": [{"CompanyNo": 0}]}], "CompanyNo"),
        (
            "ApiUsers",
            [
                {
                    "Username": "u",
                    "Password": "x",
                    "AccessibleCompanies": [
                        {
                            "CompanyNo": 1,
                            "NumberSerieIntervals": [{"ColumnNo": 4045, "IntervalFrom": 9, "IntervalTo": 3}],
                        }
                    ],
                }
            ],
            "NumberSerieIntervals[0]",
        ),
    ],
)
def test_a_setting_that_parses_but_cannot_work_stops_startup_naming_key_and_line(section, values, key):
    """Finding 14: MaxPageSize 0 made every list a 500, Port 99999 listened elsewhere, "" let anyone in."""
    text = json.dumps(BASE | {section: values}, indent=2)
    with pytest.raises(SettingsError) as raised:
        parse_settings(text, source="appsettings.json")
    message = str(raised.value)
    assert "\n" not in message and key in message and ", line " in message


def test_the_shipped_settings_pass_the_range_checks():
    from pathlib import Path

    parse_settings((Path(__file__).parents[2] / "config" / "appsettings.json").read_text())


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("OPTIONS", "/api/9999/orders", {"GET", "HEAD", "POST"}),
        ("PUT", "/api/9999/orders", {"GET", "HEAD", "POST"}),
        ("POST", "/api/9999/orders/1", {"GET", "HEAD", "PUT", "PATCH", "DELETE"}),
        ("POST", "/api/9999", {"GET", "HEAD"}),
    ],
)
async def test_a_405_lists_every_method_the_path_takes(client: httpx.AsyncClient, method, path, allowed):
    """Finding 18: `Allow: GET, HEAD` on paths that also take POST, PUT, PATCH and DELETE."""
    response = await client.request(method, path)
    assert_error_shape(response, 405, "MethodNotAllowed")
    assert {part.strip() for part in response.headers["allow"].split(",")} == allowed


async def test_head_is_served_where_get_is(client: httpx.AsyncClient):
    response = await client.head("/api/9999/orders/1")
    assert response.status_code == 200 and response.content == b""


async def test_an_idempotency_key_does_not_replay_an_array_answer_for_an_object(writing_client: httpx.AsyncClient):
    """Finding 20: `[obj]` then `obj` under one key replayed the array's answer."""
    headers = {"Idempotency-Key": "shape-attack-1"}
    array = await writing_client.post("/api/9999/associates", json=[{"Name": "Shape"}], headers=headers)
    assert array.status_code == 201 and isinstance(array.json()["value"], list)
    single = await writing_client.post("/api/9999/associates", json={"Name": "Shape"}, headers=headers)
    assert_error_shape(single, 422, "IdempotencyKeyReused")
    again = await writing_client.post("/api/9999/associates", json=[{"Name": "Shape"}], headers=headers)
    assert again.status_code == 201 and again.headers.get("idempotent-replayed") == "true"
