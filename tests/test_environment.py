"""Environment overrides in ASP.NET Core's convention: `Section__Key` on top of the settings file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from redhorn.errors import SettingsError
from redhorn.settings import environment_overrides, load_settings, parse_with_environment
from tests.conftest import DEMO_USER, settings_document, start_server

SECRET = "pa55-from-the-environment"


def document(**sections: Any) -> str:
    base: dict[str, Any] = {
        "VismaConnection": {"VismaDbConnectionString": "Engine=sqlite;Data Source=~/data"},
        "ApiUsers": [{"Username": "demo", "Password": "from-the-file"}],
        "Query": {"MaxPageSize": 1000},
    }
    base.update(sections)
    return json.dumps(base, indent=2)


def test_numbers_booleans_and_strings_are_typed_as_their_settings():
    settings = parse_with_environment(
        document(),
        "appsettings.json",
        {
            "Query__MaxPageSize": "500",
            "Query__StatementTimeoutSeconds": "2.5",
            "Compression__Enabled": "False",
            "VismaConnection__VbsIntegrationUserPassword": SECRET,
        },
    )
    assert settings.query.max_page_size == 500
    assert settings.query.statement_timeout_seconds == 2.5
    assert settings.compression.enabled is False
    assert settings.visma_connection.vbs_integration_user_password == SECRET


def test_keys_match_in_any_case_as_windows_hands_them_over_upper_cased():
    settings = parse_with_environment(document(), "f", {"QUERY__MAXPAGESIZE": "7", "query__maxtop": "9"})
    assert (settings.query.max_page_size, settings.query.max_top) == (7, 9)


def test_lists_are_set_item_by_item_by_index_and_grow_in_order():
    environ = {
        "ApiUsers__0__Password": SECRET,
        "ApiUsers__1__Password": "second",
        "ApiUsers__1__Username": "reporting",
        "ApiUsers__1__AccessibleCompanies__0__CompanyNo": "9999",
        "ApiUsers__1__AccessibleCompanies__0__NumberSerieIntervals__0__ColumnNo": "4045",
        "ApiUsers__1__AccessibleCompanies__0__NumberSerieIntervals__0__IntervalFrom": "1",
        "ApiUsers__1__AccessibleCompanies__0__NumberSerieIntervals__0__IntervalTo": "10",
        "Server__TrustedProxies__1": "10.0.0.2",
        "Server__TrustedProxies__0": "10.0.0.1",
    }
    settings = parse_with_environment(document(), "f", environ)
    assert [(user.username, user.password) for user in settings.api_users] == [
        ("demo", SECRET),
        ("reporting", "second"),
    ]
    company = settings.api_users[1].accessible_companies[0]
    assert company.company_no == 9999 and company.number_serie_intervals[0].interval_to == 10
    assert settings.server.trusted_proxies == ("10.0.0.1", "10.0.0.2")


def test_a_required_setting_may_come_from_the_environment_alone():
    text = json.dumps({"VismaConnection": {}})
    settings = parse_with_environment(
        text, "f", {"VismaConnection__VismaDbConnectionString": "Engine=sqlite;Data Source=x"}
    )
    assert settings.visma_connection.visma_db_connection_string == "Engine=sqlite;Data Source=x"


def test_the_rest_of_the_environment_is_left_alone():
    environ = {"PATH": "/bin", "Foo__Bar": "1", "Logging__LogLevel__Default": "Debug", "QUERY": "x"}
    assert environment_overrides(environ) == []
    assert parse_with_environment(document(), "f", environ).query.max_page_size == 1000


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("Query__MaxPageSize", "0", "environment variable Query__MaxPageSize: Expected `int` >= 1"),
        ("Query__MaxPageSize", "many", "environment variable Query__MaxPageSize: Expected `int`, got `str`"),
        ("Compression__Enabled", "sometimes", "environment variable Compression__Enabled: Expected `bool`"),
        ("Query__MaxPagesiz", "5", "environment variable Query__MaxPagesiz: Query has no key 'MaxPagesiz'"),
        ("Server__TrustedProxies", "10.0.0.1", "Server.TrustedProxies is a list: set its items as"),
        ("ApiUsers__2__Username", "someone", "environment variable ApiUsers__2__Username: ApiUsers has 1 items"),
        ("Query__MaxPageSize__Deeper", "1", "Query.MaxPageSize is a single value"),
        ("VismaConnection__VismaDbConnectionString", "", "Expected `str` of length >= 1"),
    ],
)
def test_a_variable_that_cannot_apply_is_named_without_its_value(variable: str, value: str, message: str):
    with pytest.raises(SettingsError) as raised:
        parse_with_environment(document(), "appsettings.json", {variable: value})
    assert message in str(raised.value)
    assert variable in str(raised.value)
    if len(value) > 3:  # short values (0, 5) occur in any message
        assert value not in str(raised.value).replace(variable, "")


def test_a_secret_in_a_variable_never_appears_in_its_error():
    with pytest.raises(SettingsError) as raised:
        parse_with_environment(document(), "f", {"Tokens__LifetimeSeconds": SECRET})
    assert str(raised.value).startswith("environment variable Tokens__LifetimeSeconds: Expected `int`")
    assert SECRET not in str(raised.value)


def test_a_problem_of_the_file_is_still_named_with_its_key_and_line():
    text = document(Server={"Port": 99999})
    with pytest.raises(SettingsError) as raised:
        parse_with_environment(text, "appsettings.json", {"Query__MaxPageSize": "5"})
    line = next(number for number, row in enumerate(text.splitlines(), 1) if '"Port"' in row)
    assert str(raised.value) == (f"appsettings.json: Expected `int` <= 65535 (key $.Server.Port, line {line})")


def test_load_settings_reads_the_process_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    settings_file = tmp_path / "appsettings.json"
    settings_file.write_text(document())
    assert load_settings(settings_file).query.max_page_size == 1000
    monkeypatch.setenv("Query__MaxPageSize", "42")
    assert load_settings(settings_file).query.max_page_size == 42
    assert load_settings(settings_file, environ={}).query.max_page_size == 1000


def test_the_tests_start_with_no_overrides_in_their_environment():
    assert environment_overrides(os.environ) == []


@pytest.mark.e2e
def test_a_server_takes_its_password_and_page_size_from_the_environment(
    tmp_path: Path, demo_folder: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("ApiUsers__0__Password", SECRET)
    monkeypatch.setenv("Query__MaxPageSize", "3")
    with start_server(tmp_path, settings_document(demo_folder)) as server:
        with server.client(auth=(DEMO_USER[0], SECRET)) as client:
            page = client.get("/api/9999/orders")
        with server.client() as client:
            refused = client.get("/api/9999/orders")
        log = server.log()
    assert page.status_code == 200, page.text
    assert len(page.json()["value"]) == 3 and "@odata.nextLink" in page.json()
    assert refused.status_code == 401, "the file's password is overridden"
    assert SECRET not in log


@pytest.mark.e2e
def test_a_server_refuses_to_start_on_a_bad_variable_and_names_it(
    tmp_path: Path, demo_folder: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("Query__MaxPageSize", SECRET)
    with pytest.raises(RuntimeError) as raised, start_server(tmp_path, settings_document(demo_folder)):
        pass
    assert "environment variable Query__MaxPageSize: Expected `int`, got `str`" in str(raised.value)
    assert SECRET not in str(raised.value)
