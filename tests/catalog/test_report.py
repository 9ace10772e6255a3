"""`redhorn dictionary report`, run in process against the demo the suite builds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from redhorn.cli import main
from tests.conftest import settings_document


@pytest.fixture
def settings_file(tmp_path: Path, demo_folder: Path) -> Path:
    path = tmp_path / "config" / "appsettings.json"
    path.parent.mkdir()
    path.write_text(json.dumps(settings_document(demo_folder)), encoding="utf-8")
    return path


def report(settings_file: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(["--settings", str(settings_file), "dictionary", "report", *args])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def by_resource(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {table["resource"]: table for table in document["tables"]}


def test_the_text_report_lists_each_table_and_how_it_was_named(
    settings_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = report(settings_file, capsys)
    lines = out.splitlines()
    assert lines[0].startswith("Database F9999 (company): ")
    assert lines[1].startswith("  tables named by dictionary ")
    assert "dictionary tables not found in the database: " in out
    heading = next(line for line in lines if line.startswith("resource"))
    assert heading.split() == [
        "resource",
        "SQL",
        "name",
        "table",
        "no",
        "named",
        "by",
        "dictionary",
        "column-order",
        "stand-in",
        "sql",
    ]
    orders = next(line for line in lines if line.startswith("orders "))
    assert orders.split()[:3] == ["orders", "Ord", "127"]
    assert orders.split()[3] in ("dictionary", "column-order")
    route = next(line for line in lines if line.startswith("acme_delroute "))
    assert route.split()[:3] == ["acme_delroute", "ACME_DelRoute", "sql"]


def test_the_json_report_with_columns_carries_the_sample_facts(
    settings_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(report(settings_file, capsys, "--json", "--columns"))
    assert (document["database"], document["kind"]) == ("F9999", "company")
    assert sum(document["tablesBy"].values()) == len(document["tables"])
    tables = by_resource(document)

    def number(resource: str, name: str) -> int:
        return int(next(c["number"] for c in tables[resource]["columns"] if c["name"] == name))

    associates = tables["associates"]
    assert (associates["sql"], associates["name"], associates["tableNo"]) == ("Actor", "Associate", 152)
    assert number("associates", "CustomerNo") == 4045
    assert number("orders", "OrderNo") == 2868
    assert number("orderlines", "ProductNo") == 2959
    customer = next(c for c in associates["columns"] if c["name"] == "CustomerNo")
    assert (customer["sql"], customer["namedBy"]) == ("CustNo", "dictionary")
    assert customer["sqlConfidence"] in ("V", "C", "L", "G")
    segment = next(c for c in associates["columns"] if c["sql"] == "ACME_Segment")
    assert (segment["name"], segment["namedBy"], segment["number"]) == ("ACME_Segment", "sql", None)
    assert associates["columnsBy"]["sql"] >= 1
    # the DME extension cannot pair by column order: one SQL column more than the dictionary has
    assert associates["columnOrder"].startswith("refused: ")
    route = tables["acme_delroute"]
    assert (route["namedBy"], route["foundBy"], route["tableNo"]) == ("sql", "sql", None)
    assert {c["namedBy"] for c in route["columns"]} == {"sql"}


def test_the_columns_report_shows_each_column_under_its_table(
    settings_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = report(settings_file, capsys, "--columns").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("associates "))
    block = lines[start + 1 : start + 400]
    assert block[0].startswith("    column order refused: ")
    assert any(line.split()[:4] == ["CustNo", "CustomerNo", "4045", "dictionary"] for line in block)
    assert any(line.split() == ["ACME_Segment", "ACME_Segment", "sql"] for line in block)


def test_the_report_applies_the_site_overrides(settings_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    overrides = settings_file.parent / "metadata" / "overrides.json"
    overrides.parent.mkdir()
    overrides.write_text('{"company": {"Associate": {"columns": {"ShortName": {"sql": "ACME_Segment"}}}}}')
    associates = by_resource(json.loads(report(settings_file, capsys, "--json", "--columns")))["associates"]
    segment = next(c for c in associates["columns"] if c["sql"] == "ACME_Segment")
    assert (segment["name"], segment["namedBy"], segment["sqlConfidence"]) == ("ShortName", "dictionary", "V")
    old = next(c for c in associates["columns"] if c["sql"] == "Shrt")
    assert old["name"] == "Shrt"


def test_a_malformed_overrides_file_stops_the_report_naming_the_file(
    settings_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overrides = settings_file.parent / "metadata" / "overrides.json"
    overrides.parent.mkdir()
    overrides.write_text('{"company": {"Associate": {"colums": {}}}}')
    assert main(["--settings", str(settings_file), "dictionary", "report"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"redhorn: {overrides}: unknown key 'colums'"), err


def test_the_other_databases_and_a_missing_one(settings_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    system = json.loads(report(settings_file, capsys, "--database", "vbsys", "--json"))
    assert system["kind"] == "vbsys" and "companies" in by_resource(system)
    catalog = json.loads(report(settings_file, capsys, "--database", "Catalog", "--json"))
    assert catalog["kind"] == "catalog"
    assert main(["--settings", str(settings_file), "dictionary", "report", "--database", "F4242"]) == 2
    assert "redhorn: Cannot read the catalog of 'F4242'" in capsys.readouterr().err
