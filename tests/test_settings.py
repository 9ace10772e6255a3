from __future__ import annotations

from pathlib import Path

import pytest

from redhorn.errors import SettingsError
from redhorn.settings import load_settings, parse_connection_string, parse_settings, resolve_path, strip_comments

REPO = Path(__file__).resolve().parent.parent

GOOD = """// a comment before everything
{
  /* block
     comment */
  "VismaConnection": {
    "VismaDbConnectionString": "Engine=sqlite;Data Source=~/data", // trailing comment
    "VbsEndpointAddress": "http://vbs.example:2001/GenericService",
  },
  "ApiUsers": [
    {"Username": "a", "Password": "p//not a comment", "AccessibleCompanies": [{"CompanyNo": 9999,
      "NumberSerieIntervals": [{"ColumnNo": 4045, "IntervalFrom": 10000, "IntervalTo": 19999}]}]},
  ],
}
"""


def test_the_shipped_settings_file_loads():
    settings = load_settings(REPO / "config" / "appsettings.json")
    assert settings.api_users[0].username == "demo"
    assert settings.api_users[0].accessible_companies[0].company_no == 9999
    assert settings.query.max_page_size == 1000


def test_comments_trailing_commas_and_slashes_inside_strings():
    settings = parse_settings(GOOD)
    assert settings.visma_connection.vbs_endpoint_address == "http://vbs.example:2001/GenericService"
    user = settings.api_users[0]
    assert user.password == "p//not a comment"
    assert user.allow_basic_authentication is True
    interval = user.accessible_companies[0].number_serie_intervals[0]
    assert (interval.column_no, interval.interval_from, interval.interval_to) == (4045, 10000, 19999)
    assert settings.visma_connection.default_vbs_context_user == "system"


def test_strip_comments_keeps_every_position():
    text = '{"a": 1, // x\n "b": "//y" /* z */}'
    stripped = strip_comments(text)
    assert len(stripped) == len(text)
    assert stripped.count("\n") == text.count("\n")
    assert '"//y"' in stripped and "x" not in stripped.replace('"//y"', "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param('{\n"ApiUsers": []\n}', "missing required field `VismaConnection`", id="missing-section"),
        pytest.param(
            '{"VismaConnection": {\n"VismaDbConnectionString": "x",\n"VbsSiteld": "typo"}}',
            "line 3",
            id="unknown-key-line",
        ),
        pytest.param(
            '{"VismaConnection": {"VismaDbConnectionString": "x"},\n"Query": {\n"MaxPageSize": "big"}}',
            "$.Query.MaxPageSize",
            id="wrong-type-path",
        ),
        pytest.param('{"VismaConnection": {\n\n"VismaDbConnectionString": "x",,}}', "line 3", id="malformed-json-line"),
        pytest.param(
            '{"VismaConnection": {"VismaDbConnectionString": "x"},\n "ApiUsers": [{"Username": "u"}]}',
            "missing required field `Password`",
            id="user-without-password",
        ),
    ],
)
def test_bad_settings_name_the_key_and_line(text: str, expected: str):
    with pytest.raises(SettingsError) as raised:
        parse_settings(text, source="appsettings.json")
    assert expected in str(raised.value)
    assert str(raised.value).startswith("appsettings.json:")


def test_an_unknown_key_is_reported_with_its_path_and_line():
    text = '{"VismaConnection": {\n"VismaDbConnectionString": "x"},\n"Query": {\n  "MaxPageSise": 5}}'
    with pytest.raises(SettingsError, match=r"unknown field `MaxPageSise`.*\$\.Query\.MaxPageSise, line 4"):
        parse_settings(text)


def test_a_missing_file_is_a_settings_error(tmp_path: Path):
    with pytest.raises(SettingsError, match="Cannot read settings file"):
        load_settings(tmp_path / "nope.json")


def test_secrets_stay_out_of_reprs():
    settings = parse_settings(GOOD)
    assert "p//not" not in repr(settings.api_users[0])
    assert "Data Source" not in repr(settings.visma_connection)


def test_paths_and_connection_strings():
    root = Path("/srv/redhorn")
    assert resolve_path("~/RedHorn.lic", root) == root / "RedHorn.lic"
    assert resolve_path("data", root) == root / "data"
    assert resolve_path("/abs/x", root) == Path("/abs/x")
    pairs = parse_connection_string("Driver={ODBC Driver 18 for SQL Server};Server=tcp:db,1433;UID=ro;PWD=p;x=1")
    assert pairs["driver"] == "{ODBC Driver 18 for SQL Server}"
    assert pairs["server"] == "tcp:db,1433"
    assert pairs["pwd"] == "p"


def _with_section(name: str, section: str) -> str:
    """A settings text with one more section, on its own line 3, after a minimal connection."""
    return '{"VismaConnection": {"VismaDbConnectionString": "x"},\n' + f'"{name}":\n{section}' + "}"


def test_compression_and_export_defaults():
    settings = parse_settings(GOOD)
    compression, export = settings.compression, settings.export
    assert compression.enabled is True
    assert compression.minimum_bytes == 1024
    assert (compression.gzip_level, compression.brotli_quality, compression.zstd_level) == (3, 1, 3)
    assert (export.csv_separator, export.batch_rows) == (",", 1000)


def test_compression_and_export_values_are_read():
    settings = parse_settings(
        _with_section("Compression", '{"Enabled": false, "MinimumBytes": 0, "GzipLevel": 9, "BrotliQuality": 0}')
    )
    assert settings.compression.enabled is False
    assert (settings.compression.minimum_bytes, settings.compression.gzip_level) == (0, 9)
    assert settings.compression.brotli_quality == 0
    export = parse_settings(_with_section("Export", '{"CsvSeparator": ";", "BatchRows": 100000}')).export
    assert (export.csv_separator, export.batch_rows) == (";", 100_000)
    assert parse_settings(_with_section("Export", '{"CsvSeparator": "\\t"}')).export.csv_separator == "\t"


@pytest.mark.parametrize(
    ("name", "section", "expected"),
    [
        pytest.param(
            "Compression", '{"GzipLevel": 0}', "Expected `int` >= 1 (key $.Compression.GzipLevel", id="gzip-0"
        ),
        pytest.param(
            "Compression", '{"GzipLevel": 10}', "Expected `int` <= 9 (key $.Compression.GzipLevel", id="gzip-10"
        ),
        pytest.param(
            "Compression", '{"BrotliQuality": 12}', "Expected `int` <= 11 (key $.Compression.BrotliQuality", id="br-12"
        ),
        pytest.param(
            "Compression", '{"BrotliQuality": -1}', "Expected `int` >= 0 (key $.Compression.BrotliQuality", id="br-neg"
        ),
        pytest.param(
            "Compression", '{"ZstdLevel": 20}', "Expected `int` <= 19 (key $.Compression.ZstdLevel", id="zstd-20"
        ),
        pytest.param(
            "Compression", '{"ZstdLevel": 0}', "Expected `int` >= 1 (key $.Compression.ZstdLevel", id="zstd-0"
        ),
        pytest.param(
            "Compression", '{"MinimumBytes": -1}', "Expected `int` >= 0 (key $.Compression.MinimumBytes", id="min-neg"
        ),
        pytest.param("Compression", '{"Enabled": "yes"}', "Expected `bool`", id="enabled-text"),
        pytest.param(
            "Export", '{"CsvSeparator": ";;"}', "Expected `str` of length <= 1 (key $.Export.CsvSeparator", id="sep-two"
        ),
        pytest.param(
            "Export", '{"CsvSeparator": ""}', "Expected `str` of length >= 1 (key $.Export.CsvSeparator", id="sep-empty"
        ),
        pytest.param("Export", '{"BatchRows": 99}', "Expected `int` >= 100 (key $.Export.BatchRows", id="batch-99"),
        pytest.param(
            "Export", '{"BatchRows": 100001}', "Expected `int` <= 100000 (key $.Export.BatchRows", id="batch-big"
        ),
        pytest.param(
            "Query",
            '{"DeltaSettleSeconds": -1}',
            "Expected `float` >= 0.0 (key $.Query.DeltaSettleSeconds",
            id="settle",
        ),
        pytest.param(
            "Writes", '{"TombstoneDays": 0}', "Expected `int` >= 1 (key $.Writes.TombstoneDays", id="tombstones-0"
        ),
    ],
)
def test_bad_compression_and_export_values_name_the_key(name: str, section: str, expected: str):
    with pytest.raises(SettingsError) as raised:
        parse_settings(_with_section(name, section), source="appsettings.json")
    message = str(raised.value)
    assert message.startswith("appsettings.json:")
    assert expected in message
    assert message.endswith("line 3)"), message


def test_an_unknown_compression_key_is_reported_with_its_path_and_line():
    with pytest.raises(SettingsError, match=r"unknown field `GzipLevle`.*\$\.Compression\.GzipLevle, line 3"):
        parse_settings(_with_section("Compression", '{"GzipLevle": 6}'))


@pytest.mark.parametrize("separator", ['\\"', "\\n", "\\r"], ids=["quote", "newline", "return"])
def test_a_csv_separator_that_quotes_or_ends_records_is_refused(separator: str):
    with pytest.raises(SettingsError) as raised:
        parse_settings(_with_section("Export", f'{{"CsvSeparator": "{separator}"}}'), source="appsettings.json")
    message = str(raised.value)
    assert "cannot separate CSV fields" in message
    assert message.endswith("(key $.Export, line 2)"), message
